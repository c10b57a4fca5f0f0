import { describe, expect, it } from 'vitest';
import { endpointOfChannel, parseCallEvent, parseTimestamp } from '../../src/calls/call-event.js';
import { readChannelListing } from '../../src/calls/channel-listing.js';
import { parseConfig } from '../../src/config/load.js';
import { buildCore } from '../../src/core.js';
import { recordReader } from '../../src/events/fields.js';
import { parseBaseline, emptyBaseline } from '../../src/fraud/baseline.js';
import { DestinationReader } from '../../src/fraud/destination.js';
import type { FraudDecision } from '../../src/fraud/fraud-decision.js';
import { createLogger } from '../../src/log.js';
import type { PipelineDecision } from '../../src/pipeline.js';
import { prefix as prefixOf } from '../support/prefix.js';

const log = createLogger('silent', 'stderr');
const MIN = 60_000;
const DAY = 86_400_000;
const T0 = Date.parse('2026-11-02T09:00:00Z');

/** A guard with a short learning period: 3 calls over a day. */
function setup(fraud = '{ country: GB, learning: { period: 1d, calls: 3 } }', more = '') {
  const core = buildCore(parseConfig(`fraud: ${fraud}\n${more}`, 'test'), log, { useEventTime: false });
  let seq = 0;
  const feed = (fields: Record<string, string>, time: number): readonly PipelineDecision[] => {
    const r = core.pipeline.ingest(recordReader(fields), time);
    if (r === undefined) throw new Error(`not read: ${JSON.stringify(fields)} (${[...core.pipeline.problems.counts.keys()].join(', ')})`);
    return r;
  };
  /** A call dialled: DialBegin; returns its Uniqueid and the verdict, if any. */
  const dial = (endpoint: string, number: string, time: number) => {
    const uniqueid = `1795658536.${seq++}`;
    const channel = `PJSIP/${endpoint}-${seq.toString(16).padStart(8, '0')}`;
    const d = feed({ Event: 'DialBegin', Channel: channel, Exten: number, Uniqueid: uniqueid, Context: 'lab' }, time)[0] as FraudDecision | undefined;
    return { uniqueid, channel, verdict: d?.verdict, decision: d };
  };
  const answer = (uniqueid: string, time: number) => feed({ Event: 'DialEnd', Uniqueid: uniqueid, DialStatus: 'ANSWER' }, time);
  const hangup = (uniqueid: string, time: number) => feed({ Event: 'Hangup', Uniqueid: uniqueid }, time);
  /** A whole call: dialled, answered, talked `talkMs`. */
  const call = (endpoint: string, number: string, time: number, talkMs = 60_000) => {
    const c = dial(endpoint, number, time);
    if (c.verdict === undefined || c.verdict === 'alert') {
      answer(c.uniqueid, time + 2000);
      hangup(c.uniqueid, time + 2000 + talkMs);
    }
    return c;
  };
  const security = (kind: string, account: string, from: string, time: number) => feed({ Event: kind, Service: 'PJSIP', AccountID: account, LocalAddress: 'IPV4/UDP/192.0.2.1/5060', RemoteAddress: `IPV4/UDP/${from}/5060` }, time);
  const auth = (account: string, from: string, time: number) => security('SuccessfulAuth', account, from, time);
  const wrongPassword = (account: string, from: string, time: number) => security('ChallengeResponseFailed', account, from, time);
  /** The phone's usual week: national calls from its own address. */
  const learn = (endpoint: string, from: string) => {
    for (let i = 0; i < 4; i++) {
      auth(endpoint, from, T0 + i * DAY / 2);
      expect(call(endpoint, '02079460123', T0 + i * DAY / 2 + 10).verdict).toBeUndefined();
    }
  };
  return { ...core, fraud: core.fraud!, feed, dial, answer, hangup, call, auth, wrongPassword, learn };
}

describe('dialled numbers', () => {
  const reader = new DestinationReader({ country: 'GB', outsidePrefix: '', minDigits: 6 });
  it('knows premium-rate, satellite, foreign and national numbers, and leaves extensions alone', () => {
    expect(reader.read('09098790000')).toMatchObject({ country: 'GB', kind: 'premium_rate', e164: '+449098790000' });
    expect(reader.read('00881612345678')).toMatchObject({ country: '+881', kind: 'satellite' });
    expect(reader.read('0037167000000')).toMatchObject({ country: 'LV', kind: 'fixed_line' });
    expect(reader.read('02079460123')).toMatchObject({ country: 'GB', kind: 'fixed_line' });
    expect(reader.read('+14155550123')).toMatchObject({ country: 'US' });
    expect(reader.read('600')).toBeUndefined();
    expect(reader.read('*97123456')).toBeUndefined();
  });
  it('drops the outside-line digit first', () => {
    const nine = new DestinationReader({ country: 'GB', outsidePrefix: '9', minDigits: 6 });
    expect(nine.read('909098790000')).toMatchObject({ kind: 'premium_rate' });
    expect(nine.read('9600')).toBeUndefined();
  });
});

describe('call events from AMI', () => {
  const read = (fields: Record<string, string>, useEventTime = false) => parseCallEvent(fields.Event!, recordReader(fields), 1000, useEventTime);
  it('names the endpoint as the dialplan snippet does; Local channels are no endpoint', () => {
    expect(endpointOfChannel('PJSIP/1003-0000002a')).toBe('1003');
    expect(endpointOfChannel('PJSIP/office-phone-0000002a')).toBe('office-phone');
    expect(endpointOfChannel('SIP/1003-0000002a')).toBe('SIP/1003');
    expect(endpointOfChannel('Local/09098790000@carrier-00000000;1')).toBeUndefined();
    expect(endpointOfChannel('PJSIP/a;b-0000002a')).toBeUndefined();
    expect(read({ Event: 'DialBegin', Channel: 'Local/0909@carrier-00000000;2', Exten: '0909', Uniqueid: '1.1' })).toEqual({ ok: true, event: undefined });
  });
  it('refuses malformed events and says why', () => {
    expect(read({ Event: 'DialBegin', Channel: 'PJSIP/1003-0000002a', Exten: '0909' })).toMatchObject({ ok: false, reason: expect.stringContaining('Uniqueid') });
    expect(read({ Event: 'Hangup', Uniqueid: 'a b' })).toMatchObject({ ok: false });
    expect(read({ Event: 'DialBegin', Channel: 'PJSIP/1003-0000002a', Uniqueid: '1.1' })).toMatchObject({ ok: false, reason: expect.stringContaining('Exten') });
    // Replay: the events' own clock or nothing.
    expect(read({ Event: 'Hangup', Uniqueid: '1.1' }, true)).toMatchObject({ ok: false, reason: expect.stringContaining('timestampevents') });
    expect(read({ Event: 'Hangup', Uniqueid: '1.1', Timestamp: 'yesterday' }, true)).toMatchObject({ ok: false });
    // Two Channel lines (a value that made a field of itself) choose nothing to cut.
    const forged = parseCallEvent('DialBegin', { get: (n) => ({ Channel: 'PJSIP/1003-0000002a', Exten: '0909', Uniqueid: '1.1' })[n], single: (n) => (n === 'Channel' ? null : ({ Exten: '0909', Uniqueid: '1.1' } as Record<string, string>)[n]) }, 0, false);
    expect(forged.ok).toBe(false);
    // Not a number: a dial to a name is never judged.
    expect(read({ Event: 'DialBegin', Channel: 'PJSIP/1003-0000002a', Exten: 'voicemail', Uniqueid: '1.1' })).toEqual({ ok: true, event: undefined });
  });
  it('reads the Timestamp header of timestampevents = yes', () => {
    expect(parseTimestamp('1795658536.019310')).toBe(1795658536019);
    expect(parseTimestamp('1795658536')).toBe(1795658536000);
    expect(parseTimestamp('17956585.36')).toBeUndefined();
  });
  it('counts call events as unknown when the toll-fraud guard is off', () => {
    const { pipeline } = buildCore(parseConfig('{}', 'test'), log, { useEventTime: false });
    expect(pipeline.ingest(recordReader({ Event: 'DialBegin', Channel: 'PJSIP/1003-0000002a', Exten: '09098790000', Uniqueid: '1.1' }), 0)).toBeUndefined();
    expect(pipeline.problems.counts.get('unknown-event')).toBe(1);
  });
});

describe('the toll-fraud rules', () => {
  it('blocks a premium-rate call at once, even while learning, and bans a new source', () => {
    const g = setup();
    g.auth('1003', '203.0.113.90', T0);
    const c = g.dial('1003', '09098790000', T0 + 5);
    expect(c.decision).toMatchObject({ verdict: 'block', endpoint: '1003', channel: c.channel, banned: true, hits: [{ rule: 'risky-number' }] });
    expect(c.decision!.source?.text).toBe('203.0.113.90');
    expect([...g.ledger.bans(T0 + 10)].map((b) => `${b.prefix.text} ${b.reason}`)).toEqual([expect.stringMatching(/^203\.0\.113\.90 toll fraud from endpoint 1003: .*premium-rate/)]);
    expect(g.fraud.isBlocked('1003')).toBe(true);
    // The next call of a blocked endpoint is cut whatever it dials, until an admin clears it.
    expect(g.dial('1003', '02079460123', T0 + 1000).decision).toMatchObject({ verdict: 'block', hits: [{ rule: 'blocked' }] });
    expect(g.fraud.clear('1003')).toBe(true);
    expect(g.dial('1003', '02079460123', T0 + 2000).verdict).toBeUndefined();
  });

  it('never bans the address the endpoint has long used: its block is enough', () => {
    const g = setup();
    g.learn('1002', '198.51.100.10');
    const later = T0 + 3 * DAY;
    g.auth('1002', '198.51.100.10', later);
    expect(g.dial('1002', '09098790000', later + 5).decision).toMatchObject({ verdict: 'block', banned: false });
    expect(g.ledger.count(later + 10)).toBe(0);
  });

  it('cuts a call to a country the endpoint never called, once learned, and never a new number in its country', () => {
    const g = setup();
    g.learn('1002', '198.51.100.10');
    const later = T0 + 3 * DAY;
    g.auth('1002', '198.51.100.10', later);
    expect(g.call('1002', '01134960123', later + 5).verdict).toBeUndefined();
    g.auth('1002', '198.51.100.10', later + MIN);
    const foreign = g.dial('1002', '0037167000000', later + MIN + 5).decision!;
    expect(foreign).toMatchObject({ verdict: 'hangup', banned: false, hits: [{ rule: 'new-country' }] });
    expect(foreign.hits[0]!.why).toContain('LV is a country it never called (GB');
  });

  it('does not judge countries while learning', () => {
    const g = setup();
    expect(g.call('1002', '0037167000000', T0).verdict).toBeUndefined();
  });

  it('raises a cut to a block when the call comes from an address new to the endpoint', () => {
    const g = setup();
    g.learn('1003', '198.51.100.20');
    const later = T0 + 3 * DAY;
    g.auth('1003', '203.0.113.91', later);
    expect(g.dial('1003', '0037167000000', later + 5).decision).toMatchObject({ verdict: 'block', escalated: true, banned: true });
  });

  it('blocks a call from a new address right after a burst of wrong passwords on the account', () => {
    const g = setup();
    for (let i = 0; i < 6; i++) g.wrongPassword('1003', '203.0.113.95', T0 + i * 1000);
    g.auth('1003', '203.0.113.96', T0 + 10_000);
    const d = g.dial('1003', '02079460123', T0 + 10_010).decision!;
    expect(d).toMatchObject({ verdict: 'block', banned: true, hits: [{ rule: 'new-source' }] });
    expect(d.hits[0]!.why).toContain('before the 6 wrong passwords');
    // Failures long ago are not a burst.
    const h = setup();
    for (let i = 0; i < 6; i++) h.wrongPassword('1003', '203.0.113.95', T0 + i * 1000);
    h.auth('1003', '203.0.113.96', T0 + 2 * 3_600_000);
    expect(h.dial('1003', '02079460123', T0 + 2 * 3_600_000 + 10).verdict).toBeUndefined();
  });

  it('counts only the failures the scoring policy counts: forged ones "from" an allow-listed address or loopback get no endpoint blocked (issue 24)', () => {
    const g = setup(undefined, 'policy: { allow: [198.51.100.0/24] }');
    for (let i = 0; i < 5; i++) g.wrongPassword('1003', '198.51.100.7', T0 + i * 1000);
    for (let i = 0; i < 5; i++) g.wrongPassword('1003', '127.0.0.1', T0 + 5000 + i * 1000);
    g.auth('1003', '203.0.113.96', T0 + 20_000);
    expect(g.dial('1003', '02079460123', T0 + 20_010).verdict).toBeUndefined();
    expect(g.ledger.bannedUntil(prefixOf('203.0.113.96'), T0 + 20_010)).toBeUndefined();
  });

  it('judges the digits a carrier would dial: a # or *1 after the number, a number too long to be valid (issue 24)', () => {
    const g = setup();
    for (const [i, number] of ['09098790000#', '+8819876543#', '09098790000*1', '0044909879000012345678901234567890123'].entries()) {
      expect(g.dial(`10${10 + i}`, number, T0 + i * 1000).decision, number).toMatchObject({ verdict: 'block', hits: [{ rule: 'risky-number' }] });
    }
    // Feature codes stay the PBX's own.
    expect(g.dial('1020', '*6709098790000', T0).decision).toBeUndefined();
  });

  it('does not take the endpoint\'s own phone for the guesser: it used its address before the failures', () => {
    const g = setup();
    g.auth('1003', '198.51.100.30', T0);
    expect(g.call('1003', '02079460123', T0 + 10).verdict).toBeUndefined();
    // A softphone with a stale password fails on the account from elsewhere, a minute later.
    for (let i = 0; i < 6; i++) g.wrongPassword('1003', '198.51.100.20', T0 + MIN + i * 6000);
    g.auth('1003', '198.51.100.30', T0 + 3 * MIN);
    expect(g.call('1003', '02079460123', T0 + 3 * MIN + 10).verdict).toBeUndefined();
    // The same account from an address first seen after the failures began: the guessed password.
    g.auth('1003', '203.0.113.96', T0 + 4 * MIN);
    expect(g.dial('1003', '02079460123', T0 + 4 * MIN + 10).decision).toMatchObject({ verdict: 'block', hits: [{ rule: 'new-source' }] });
  });

  it('forgets a call whose hang-up never came, after 12 hours', () => {
    const g = setup();
    for (let i = 0; i < 4; i++) g.dial('1002', '02079460123', T0 + i * 1000);
    expect(g.dial('1002', '02079460124', T0 + 5000).verdict).toBe('hangup');
    g.fraud.tick(T0 + 13 * 3_600_000);
    expect(g.dial('1002', '02079460125', T0 + 13 * 3_600_000).verdict).toBeUndefined();
  });

  it('cuts more calls at once than the floor while learning, and counts hang-ups', () => {
    const g = setup();
    const up = [0, 1, 2, 3].map((i) => g.dial('1002', '02079460123', T0 + i * 20_000));
    expect(up.map((c) => c.verdict)).toEqual([undefined, undefined, undefined, undefined]);
    expect(g.dial('1002', '02079460124', T0 + 80_000).decision).toMatchObject({ verdict: 'hangup', hits: [{ rule: 'concurrent' }] });
    g.hangup(up[0]!.uniqueid, T0 + 90_000);
    expect(g.dial('1002', '02079460125', T0 + 100_000).verdict).toBeUndefined();
  });

  it('counts one Dial that rings several phones as one call', () => {
    const g = setup();
    const feedDial = (uniqueid: string, number: string, time: number) =>
      g.feed({ Event: 'DialBegin', Channel: 'PJSIP/1002-0000000f', Exten: number, Uniqueid: uniqueid, Context: 'lab' }, time);
    for (let i = 0; i < 3; i++) for (let fork = 0; fork < 3; fork++) feedDial(`9.${i}`, '02079460123', T0 + i * 1000 + fork);
    // Three calls up, not nine: a fourth is under the floor of 4.
    expect(g.dial('1002', '02079460124', T0 + 5000).verdict).toBeUndefined();
    expect(g.fraud.baseline('1002')!.calls).toBe(4);
  });

  it('forgets the calls up when the AMI connection was lost (their hang-ups never came)', () => {
    const g = setup();
    for (let i = 0; i < 4; i++) g.dial('1002', '02079460123', T0 + i * 20_000);
    g.fraud.forgetCalls();
    expect(g.dial('1002', '02079460124', T0 + 80_000).verdict).toBeUndefined();
  });

  it('cuts a burst of calls within a minute', () => {
    const g = setup('{ country: GB, rules: { concurrent: { floor: 100 } } }');
    const verdicts = Array.from({ length: 8 }, (_, i) => g.call('1002', `0207946012${i}`, T0 + i * 1000, 100).verdict);
    expect(verdicts).toEqual([undefined, undefined, undefined, undefined, undefined, undefined, 'hangup', 'hangup']);
  });

  it('alerts on sequential short calls to one number', () => {
    const g = setup();
    const verdicts = Array.from({ length: 7 }, (_, i) => g.call('1002', '02079460123', T0 + i * 30_000, 3000).verdict);
    expect(verdicts).toEqual([undefined, undefined, undefined, undefined, undefined, 'alert', 'alert']);
    // An alert lets the call through: it is counted, and a long call ends the run.
    const h = setup();
    for (let i = 0; i < 4; i++) h.call('1002', '02079460123', T0 + i * 30_000, 3000);
    h.call('1002', '02079460123', T0 + 200_000, 120_000);
    expect(h.call('1002', '02079460123', T0 + 400_000, 3000).verdict).toBeUndefined();
  });

  it('follows the config: a rule off is off, an alert-only rule never cuts', () => {
    const g = setup('{ country: GB, rules: { risky_number: { action: off } } }');
    expect(g.dial('1002', '09098790000', T0).verdict).toBeUndefined();
    const h = setup('{ country: GB, rules: { risky_number: { action: alert } } }');
    expect(h.dial('1002', '09098790000', T0).decision).toMatchObject({ verdict: 'alert', banned: false });
    expect(h.fraud.isBlocked('1002')).toBe(false);
    const i = setup('{ country: GB, ignore_endpoints: [trunk] }');
    expect(i.dial('trunk', '09098790000', T0).verdict).toBeUndefined();
  });

  it('never judges the calls a trunk identified by address delivers (inbound, many at once)', () => {
    const g = setup();
    g.fraud.setTrunks(['itsp']);
    const verdicts = Array.from({ length: 8 }, (_, i) => g.dial('itsp', `0207946012${i}`, T0 + i).verdict);
    expect(verdicts.every((v) => v === undefined)).toBe(true);
    expect(g.fraud.status('itsp', T0)).toBeUndefined();
    // Without it, the trunk's eight inbound calls at once would be cut from the fifth on.
    const h = setup();
    expect(Array.from({ length: 8 }, (_, i) => h.dial('itsp', `0207946012${i}`, T0 + i).verdict).filter(Boolean)).toHaveLength(4);
  });

  it('never judges internal calls', () => {
    const g = setup();
    expect(g.dial('1002', '600', T0).verdict).toBeUndefined();
    expect(g.fraud.status('1002', T0)).toBeUndefined();
  });

  it('keeps what it learned in bounds, and checks a stored baseline before trusting it', () => {
    const g = setup();
    for (let i = 0; i < 100; i++) g.auth('1002', `198.51.100.${i + 1}`, T0 + i);
    g.call('1002', '02079460123', T0 + 1000);
    for (let i = 0; i < 100; i++) g.auth('1002', `198.51.100.${i + 101}`, T0 + 2000 + i);
    const b = g.fraud.baseline('1002')!;
    expect(Object.keys(b.sources).length).toBe(16);
    expect(parseBaseline(JSON.stringify(b))).toEqual(b);
    expect(parseBaseline('{"since": 1}')).toBeUndefined();
    expect(parseBaseline('not json')).toBeUndefined();
    expect(parseBaseline(JSON.stringify({ ...emptyBaseline(0), hours: [1, 2] }))).toBeUndefined();
    expect(parseBaseline(JSON.stringify({ ...emptyBaseline(0), countries: { GB: -1 } }))).toBeUndefined();
  });
});

describe("Asterisk's channel list (CoreShowChannels, every fraud.channel_poll)", () => {
  /** A CoreShowChannel item as AmiClient.sendList copies it (LISTING_FIELDS). */
  const caller = (endpoint: string, number: string, uniqueid: string, o: { duration?: string; bridge?: string; application?: string } = {}) => ({
    Channel: `PJSIP/${endpoint}-0000001${uniqueid.slice(-1)}`,
    Exten: number,
    Uniqueid: uniqueid,
    Application: o.application ?? 'Dial',
    BridgeId: o.bridge ?? '',
    Duration: o.duration ?? '00:00:01',
  });
  const trunkLeg = { Channel: 'PJSIP/carrier-00000020', Exten: 's', Uniqueid: '1795658536.90', Application: 'AppDial', BridgeId: '', Duration: '00:00:01' };

  it('reads callers in Dial as dials made when their channel was, every listed channel as up, and names what it skips', () => {
    const l = readChannelListing(
      [
        caller('1003', '09098790000', '1795658536.1', { duration: '00:01:05', bridge: 'b1' }),
        trunkLeg,
        caller('1003', '600', '1795658536.2'),
        { Channel: 'Local/0900@carrier-00000000;1', Exten: '09098790000', Uniqueid: '1795658536.3', Application: 'Dial', BridgeId: '', Duration: '00:00:01' },
        { Exten: '09098790000', Uniqueid: '1795658536.4', Application: 'Dial' },
        caller('1003', '09098790000', 'bad uniqueid'),
        caller('1003', '09098790000', '1795658536.5', { duration: '1:2' }),
      ],
      T0 - 100,
      T0,
    );
    expect(l.dials.map((d) => [d.dial.endpoint, d.dial.number, d.dial.uniqueid, d.dial.time - T0, d.answered])).toEqual([
      ['1003', '09098790000', '1795658536.1', -65_000, true],
      // An extension dialled is no call out (the guard judges none shorter than min_digits).
      ['1003', '600', '1795658536.2', -1000, false],
      // A Duration it cannot read: dialled when listed.
      ['1003', '09098790000', '1795658536.5', 0, false],
    ]);
    expect([...l.uniqueids]).toEqual(['1795658536.1', '1795658536.90', '1795658536.2', '1795658536.3', '1795658536.5']);
    expect(l.skipped).toEqual(['CoreShowChannel: Channel or Exten missing or repeated', 'CoreShowChannel: Uniqueid missing, repeated or malformed']);
  });

  it('judges a dial no DialBegin told of (read lost `call`), once, and not again when its DialBegin comes late', () => {
    const g = setup();
    const listed = readChannelListing([caller('1004', '09098790000', '1795658536.1'), trunkLeg], T0, T0 + 20);
    const [d, ...more] = g.fraud.reconcile(listed);
    expect(more).toEqual([]);
    expect(d).toMatchObject({ verdict: 'block', endpoint: '1004', channel: 'PJSIP/1004-00000011', number: '09098790000', hits: [{ rule: 'risky-number' }] });
    // The cut call still listed a second later (its Hangup under way), and its DialBegin: not judged again.
    expect(g.fraud.reconcile(readChannelListing([caller('1004', '09098790000', '1795658536.1')], T0 + 1000, T0 + 1020))).toEqual([]);
    expect(g.feed({ Event: 'DialBegin', Channel: 'PJSIP/1004-00000011', Exten: '09098790000', Uniqueid: '1795658536.1' }, T0 + 1030)).toEqual([]);
    expect(g.fraud.verdicts.block).toBe(1);
  });

  it('ends a call counted up that is no longer listed, but not one dialled after the list was asked for', () => {
    const g = setup();
    for (const i of [0, 1, 2]) g.dial('1002', '02079460123', T0 + i * 20_000);
    const late = g.dial('1002', '02079460123', T0 + 70_000);
    // Asked for at T0 + 65 s: the three ended (their Hangups lost), the fourth not yet listed.
    g.fraud.reconcile(readChannelListing([], T0 + 65_000, T0 + 70_010));
    expect(g.fraud.status('1002', T0 + 71_000)?.active).toBe(1);
    // Without the list the last of these would be one call too many at once (floor 4).
    for (const i of [1, 2, 3]) expect(g.dial('1002', `0207946013${i}`, T0 + 70_000 + i * 10_000).verdict).toBeUndefined();
    expect(g.fraud.reconcile(readChannelListing([caller('1002', '02079460123', late.uniqueid)], T0 + 101_000, T0 + 101_010))).toEqual([]);
    expect(g.fraud.status('1002', T0 + 102_000)?.active).toBe(1);
  });

  it('counts a call placed while AMI was away in the minute it was placed', () => {
    const g = setup();
    const listed = [0, 1, 2, 3, 4, 5, 6].map((i) => caller('1002', `0207946012${i}`, `1795658536.${i}`, { duration: `00:0${i}:00` }));
    // Seven calls over seven minutes, found at once: not seven in a minute (per_minute floor 6).
    expect(g.fraud.reconcile(readChannelListing(listed, T0, T0 + 10)).map((d) => d.hits.map((h) => h.rule))).toEqual([['concurrent'], ['concurrent'], ['concurrent']]);
  });
});
