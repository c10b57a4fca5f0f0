import { describe, expect, it } from 'vitest';
import { BanLedger, describeRefusal, isRefusal, type LedgerSink, type Refusal } from '../../src/ledger/ban-ledger.js';
import type { IpPrefix } from '../../src/net/ip-prefix.js';
import type { BanDecision, BanRequest } from '../../src/policy/decision.js';
import { NeverBan } from '../../src/policy/never-ban.js';
import { prefix as p } from '../support/prefix.js';

const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

function setup(o: { allow?: string[]; neverBan?: string[]; ladder?: (number | null)[]; maxImportedMs?: number | null; lookbackMs?: number; maxBans?: number; atMaxBans?: 'widen' | 'refuse'; fleetShare?: { all: number; perNode: number } } = {}) {
  const sent: string[] = [];
  const sink: LedgerSink = {
    ban: (d: BanDecision) => sent.push(`ban ${d.target.text} ${d.durationMs} step ${d.step} ${d.origin}`),
    lift: (prefix: IpPrefix, _t: number, origin) => sent.push(`lift ${prefix.text} ${origin}`),
  };
  const neverBan = new NeverBan((o.allow ?? []).map(p), (o.neverBan ?? []).map(p));
  const full: number[] = [];
  const ledger = new BanLedger(
    { ladder: o.ladder ?? [10 * MIN, 60 * MIN, null], lookbackMs: o.lookbackMs ?? 30 * DAY, maxImportedMs: o.maxImportedMs ?? null, widest: { 4: 16, 6: 32 }, maxBans: o.maxBans ?? 1_000_000, fleetShare: o.fleetShare ?? { all: 200_000, perNode: 50_000 }, atMaxBans: o.atMaxBans ?? 'widen', widenTo: { 4: 24, 6: 48 } },
    neverBan,
    sink,
    (inForce) => full.push(inForce),
  );
  return { ledger, sent, neverBan, full };
}

const request = (target: string, time: number, extra: Partial<BanRequest> = {}): BanRequest => ({ target: p(target), time, reason: 'brute-force', origin: 'auto', ...extra });

describe('BanLedger', () => {
  it('gives every origin the same ladder: a policy ban, then an admin ban, then an import escalate one prefix', () => {
    const { ledger, sent } = setup();
    ledger.request(request('203.0.113.9', 0));
    ledger.lift(p('203.0.113.9'), 1, 'cli');
    ledger.request(request('203.0.113.9', 2, { origin: 'cli', reason: 'manual' }));
    ledger.lift(p('203.0.113.9'), 3, 'cli');
    ledger.request(request('203.0.113.9', 4, { origin: 'import', reason: 'import', durationMs: 5 * MIN }));
    expect(sent).toEqual([
      'ban 203.0.113.9 600000 step 0 auto',
      'lift 203.0.113.9 cli',
      'ban 203.0.113.9 3600000 step 1 cli',
      'lift 203.0.113.9 cli',
      'ban 203.0.113.9 300000 step 2 import',
    ]);
  });

  it('refuses, by overlap, any ban that would hit an allow-listed or never-ban address, and changes nothing', () => {
    const { ledger, sent } = setup({ allow: ['198.51.100.10'], neverBan: ['192.0.2.1'] });
    for (const target of ['198.51.100.10', '198.51.100.0/24', '198.51.0.0/16', '192.0.2.0/24', '127.0.0.1', '::1']) {
      const r = ledger.request(request(target, 0, { origin: 'cli', reason: 'manual' }));
      expect(isRefusal(r) && r.refused, target).toBe('spared');
    }
    const r = ledger.request(request('198.51.100.0/24', 0));
    expect(isRefusal(r) && describeRefusal(r)).toBe('198.51.100.0/24 is allow-listed (198.51.100.10): it is never banned');
    expect(sent).toEqual([]);
    expect(ledger.bannedUntil(p('198.51.100.0/24'), 0)).toBeUndefined();
    expect(ledger.nextStep(p('198.51.100.0/24'), 0).step).toBe(0);
  });

  it('refuses a ban that would not outlast the one in force, and extends one that would', () => {
    const { ledger, sent } = setup();
    ledger.request(request('203.0.113.9', 0, { origin: 'cli', reason: 'manual', durationMs: 60 * MIN }));
    const shorter = ledger.request(request('203.0.113.9', MIN, { origin: 'cli', reason: 'manual', durationMs: 10 * MIN }));
    expect(isRefusal(shorter) && shorter.refused).toBe('already-banned');
    const longer = ledger.request(request('203.0.113.9', MIN, { origin: 'cli', reason: 'manual', durationMs: null }));
    expect(isRefusal(longer)).toBe(false);
    expect(ledger.bannedUntil(p('203.0.113.9'), 100 * DAY)).toBe(Infinity);
    expect(sent).toHaveLength(2);
  });

  it('bounds the length an import may set, and skips what has already ended', () => {
    const { ledger } = setup({ maxImportedMs: DAY });
    const forever = ledger.request(request('203.0.113.1', 0, { origin: 'import', reason: 'import', durationMs: null }));
    expect(!isRefusal(forever) && forever.durationMs).toBe(DAY);
    const past = ledger.request(request('203.0.113.2', 0, { origin: 'import', reason: 'import', durationMs: -5 }));
    expect(isRefusal(past) && past.refused).toBe('expired');
    // The admin's own --for is theirs.
    const admin = ledger.request(request('203.0.113.3', 0, { origin: 'cli', reason: 'manual', durationMs: null }));
    expect(!isRefusal(admin) && admin.durationMs).toBe(null);
  });

  it("refuses an admin or imported ban wider than /16 (IPv4) or /32 (IPv6) unless forced; the policy's subnets are its own", () => {
    const { ledger, sent } = setup();
    for (const [target, origin] of [['203.0.0.0/15', 'cli'], ['2001:db8::/31', 'import'], ['198.0.0.0/8', 'import']] as const) {
      const r = ledger.request(request(target, 0, { origin, reason: 'manual' }));
      expect(isRefusal(r) && describeRefusal(r), target).toMatch(/is wider than \/(16|32) \(policy\.widest_ban\): ban it with --force/);
    }
    expect(isRefusal(ledger.request(request('203.0.0.0/16', 0, { origin: 'cli', reason: 'manual' })))).toBe(false);
    expect(isRefusal(ledger.request(request('198.0.0.0/8', 0, { origin: 'cli', reason: 'manual', force: true })))).toBe(false);
    expect(sent).toEqual(['ban 203.0.0.0/16 600000 step 0 cli', 'ban 198.0.0.0/8 600000 step 0 cli']);
  });

  it('refuses a length past ten years (nft and Date overflow) and never stores one', () => {
    const { ledger, sent } = setup();
    for (const durationMs of [3651 * DAY, 1e308, Infinity, Number.NaN]) {
      const r = ledger.request(request('203.0.113.1', 0, { origin: 'import', reason: 'import', durationMs }));
      expect(isRefusal(r) && r.refused, String(durationMs)).toBe('too-long');
    }
    expect(sent).toEqual([]);
    expect([...ledger.bans(0)]).toEqual([]);
  });

  it('lifts only what is banned, and forgets bans once they end', () => {
    const { ledger, sent } = setup();
    expect(ledger.lift(p('203.0.113.9'), 0, 'cli')).toBeUndefined();
    ledger.request(request('203.0.113.9', 0));
    expect(ledger.lift(p('203.0.113.9'), 11 * MIN, 'cli')).toBeUndefined();
    expect([...ledger.bans(11 * MIN)]).toEqual([]);
    expect(sent).toEqual(['ban 203.0.113.9 600000 step 0 auto']);
  });

  it('restores the store without sending anything to the kernel again', () => {
    const { ledger, sent } = setup();
    ledger.restore([{ prefix: p('203.0.113.9'), since: 0, until: 20 * MIN, reason: 'brute-force', origin: 'auto', step: 0 }], new Map([['203.0.113.9', [0]]]));
    expect(ledger.bannedUntil(p('203.0.113.9'), MIN)).toBe(20 * MIN);
    expect(ledger.nextStep(p('203.0.113.9'), 30 * MIN).step).toBe(1);
    expect(sent).toEqual([]);
  });

  it('counts the bans in force exactly as they end, and forgets ended ones after the lookback', () => {
    const { ledger } = setup({ ladder: [MIN], lookbackMs: 10 * MIN });
    for (let i = 0; i < 5000; i++) ledger.request(request(`198.18.${i >> 8}.${i & 255}`, i * 1000));
    // Each ban lasts a minute: 60 are in force at the end, counted without a walk.
    expect(ledger.count(4999 * 1000)).toBe(60);
    expect([...ledger.bans(4999 * 1000)]).toHaveLength(60);
    expect(ledger.count(4999 * 1000 + MIN)).toBe(0);
    // Records stay for the escalation history only within the lookback (10 minutes: 600 starts), swept as the table doubles.
    expect(ledger.records).toBeLessThanOrEqual(2 * 1024 + 600);
  });

  it('keeps the count right through lifts, admin extensions and restores', () => {
    const { ledger } = setup();
    ledger.request(request('203.0.113.1', 0));
    ledger.request(request('203.0.113.2', 0));
    ledger.request(request('203.0.113.2', 1, { origin: 'cli', reason: 'manual', durationMs: 2 * DAY }));
    expect(ledger.count(2)).toBe(2);
    ledger.lift(p('203.0.113.1'), 3, 'cli');
    expect(ledger.count(4)).toBe(1);
    // The first ban of .2 would have ended at 10 minutes: its extension holds.
    expect(ledger.count(11 * MIN)).toBe(1);
    expect(ledger.count(2 * DAY + 2)).toBe(0);
    ledger.restore([{ prefix: p('203.0.113.3'), since: 0, until: null, reason: 'manual', origin: 'cli', step: 0 }], new Map());
    expect(ledger.count(3 * DAY)).toBe(1);
  });

  it('tells the driver when an earlier element of the prefix may still be in the kernel', () => {
    const { ledger } = setup();
    const first = ledger.request(request('203.0.113.1', 0));
    const extended = ledger.request(request('203.0.113.1', 1, { origin: 'cli', reason: 'manual', durationMs: DAY }));
    ledger.lift(p('203.0.113.1'), 2, 'cli');
    const again = ledger.request(request('203.0.113.1', 3));
    const later = ledger.request(request('203.0.113.5', 0));
    const afterEnd = ledger.request(request('203.0.113.5', 20 * MIN));
    expect([first, extended, again, later, afterEnd].map((d) => ('replaces' in d ? d.replaces : d.refused))).toEqual([false, true, true, false, false]);
  });

  it('escalates along a ladder of 8 steps from the 7 starts it remembers', () => {
    const ladder = [1, 2, 3, 4, 5, 6, 7, null].map((m) => (m === null ? null : m * MIN));
    const { ledger } = setup({ ladder });
    const steps: number[] = [];
    for (let i = 0; i < 9; i++) {
      const d = ledger.request(request('203.0.113.9', i * HOUR));
      if ('step' in d) steps.push(d.step);
    }
    expect(steps).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('widens new bans to their /24 or /48 at policy.max_bans, alerting once; refuses when told to', () => {
    const { ledger, full } = setup({ maxBans: 100 });
    for (let i = 0; i < 100; i++) ledger.request(request(`198.18.0.${i}`, 0));
    const widened = ledger.request(request('198.19.7.7', 1));
    expect(widened).toMatchObject({ target: { text: '198.19.7.0/24' }, note: 'brute-force; widened from 198.19.7.7: policy.max_bans reached' });
    expect(ledger.request(request('198.19.7.8', 2))).toMatchObject({ refused: 'already-banned', target: { text: '198.19.7.0/24' } });
    expect(ledger.request(request('2001:db8:5:6::/64', 3))).toMatchObject({ target: { text: '2001:db8:5::/48' } });
    // The headroom for widened bans is a tenth of the cap.
    for (let i = 0; i < 20; i++) ledger.request(request(`198.20.${i}.1`, 4));
    expect(ledger.count(5)).toBe(110);
    expect(full).toEqual([100]);
    const refusing = setup({ maxBans: 100, atMaxBans: 'refuse' });
    for (let i = 0; i < 100; i++) refusing.ledger.request(request(`198.18.0.${i}`, 0));
    const refused = refusing.ledger.request(request('198.19.7.7', 1));
    expect(refused).toMatchObject({ refused: 'full', max: 100 });
    expect(describeRefusal(refused as Refusal)).toMatch(/100 bans are in force \(policy.max_bans\): 198.19.7.7 is not banned/);
    // Room again once bans end: a new spell alerts again.
    expect(refusing.ledger.request(request('198.19.7.7', 11 * MIN))).toMatchObject({ action: 'ban' });
  });
});

describe("other nodes' bans have a share of the cap of their own (issue 24)", () => {
  const fleetBan = (target: string, time: number, node: string) => request(target, time, { origin: 'fleet', reason: 'fleet', node, note: `${node}: brute-force`, durationMs: HOUR });

  it("a node that publishes thousands of bans never switches off this node's own defence", () => {
    const { ledger } = setup({ maxBans: 100, atMaxBans: 'refuse', fleetShare: { all: 300, perNode: 200 } });
    for (let i = 0; i < 5000; i++) ledger.request(fleetBan(`198.18.${i >> 8}.${i & 255}`, 1000, 'evil'));
    expect(ledger.fleetShares()).toEqual({ all: 200, top: [{ node: 'evil', bans: 200 }] });
    const refused = ledger.request(fleetBan('198.51.100.1', 1000, 'evil'));
    expect(refused).toMatchObject({ refused: 'fleet-share', key: 'fleet.max_bans_per_node', max: 200, node: 'evil' });
    expect(describeRefusal(refused as Refusal)).toMatch(/node evil .*fleet\.max_bans_per_node/);
    // A second node fills the fleet's share up to its total; then the total refuses.
    for (let i = 0; i < 150; i++) ledger.request(fleetBan(`198.19.0.${i}`, 1000, 'pbx-b'));
    expect(ledger.fleetShares().all).toBe(300);
    expect(ledger.request(fleetBan('198.19.1.1', 1000, 'pbx-c'))).toMatchObject({ refused: 'fleet-share', key: 'fleet.max_bans' });
    // This node's own bans: all 100 of policy.max_bans are still there.
    for (let i = 0; i < 100; i++) expect(isRefusal(ledger.request(request(`203.0.113.${i}`, 1000)))).toBe(false);
    expect(ledger.request(request('203.0.113.200', 1000))).toMatchObject({ refused: 'full', max: 100 });
  });

  it('gives a share back when a fleet ban ends or is lifted, and counts a restored fleet ban against its node', () => {
    const { ledger } = setup({ fleetShare: { all: 1000, perNode: 2 } });
    ledger.request(fleetBan('198.18.0.1', 1000, 'pbx-b'));
    ledger.request(fleetBan('198.18.0.2', 1000, 'pbx-b'));
    expect(ledger.request(fleetBan('198.18.0.3', 1000, 'pbx-b'))).toMatchObject({ refused: 'fleet-share' });
    ledger.lift(p('198.18.0.1'), 2000, 'fleet');
    expect(isRefusal(ledger.request(fleetBan('198.18.0.3', 2000, 'pbx-b')))).toBe(false);
    expect(ledger.count(1000 + 2 * HOUR)).toBe(0);
    expect(ledger.fleetShares().all).toBe(0);
    const restored = setup({ fleetShare: { all: 1000, perNode: 1 } }).ledger;
    restored.restore([{ prefix: p('198.18.0.9'), since: 0, until: null, reason: 'pbx-b: brute-force', origin: 'fleet', step: 0 }], new Map());
    expect(restored.request(fleetBan('198.18.0.10', 1000, 'pbx-b'))).toMatchObject({ refused: 'fleet-share', node: 'pbx-b' });
  });

  it("keeps no record of another node's ended ban: a node publishing a million short bans costs nothing after (issue 24)", () => {
    const { ledger } = setup({ fleetShare: { all: 100_000, perNode: 100_000 } });
    for (let i = 0; i < 5000; i++) ledger.request({ ...fleetBan(`198.18.${i >> 8}.${i & 255}`, 1000 + i, 'pbx-b'), durationMs: 2000 });
    // Later requests end them and sweep their records round the table.
    for (let i = 0; i < 2000; i++) ledger.request({ ...fleetBan(`198.19.${i >> 8}.${i & 255}`, 100_000 + i, 'pbx-b'), durationMs: 2000 });
    expect(ledger.records).toBeLessThan(2500);
    expect(ledger.nextStep(p('198.18.0.1'), 200_000).step).toBe(0);
  });
});
