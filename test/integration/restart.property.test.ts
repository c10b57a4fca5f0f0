import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { netnsRunner } from '../../src/enforce/command-runner.js';
import { NftablesDriver } from '../../src/enforce/nftables-driver.js';
import { LabNetwork } from '../../lab/netns.js';
import { parseIpPrefix, type IpPrefix } from '../../src/net/ip-prefix.js';
import { BanLedger, isRefusal } from '../../src/ledger/ban-ledger.js';
import { NeverBan } from '../../src/policy/never-ban.js';
import { Store } from '../../src/store/store.js';

// Property, against the real kernel: after any sequence of bans and unbans (asked of the ban
// ledger, its decisions recorded in the store and applied by the driver, as the daemon does), a
// restarted daemon that reconciles from the store puts the kernel in the same state, and unban
// leaves no trace in either.

const PREFIXES = ['203.0.113.1', '203.0.113.2', '203.0.113.0/24', '198.51.100.7', '2001:db8:66::/64', '2001:db8:66::1', '2001:db8:77::/48'].map((t) => {
  const p = parseIpPrefix(t);
  if (!p.ok) throw new Error(p.reason);
  return p.value;
});

const op = fc.oneof(
  fc.record({ kind: fc.constant('ban' as const), prefix: fc.constantFrom(...PREFIXES), minutes: fc.option(fc.integer({ min: 1, max: 600 }), { nil: null }) }),
  fc.record({ kind: fc.constant('unban' as const), prefix: fc.constantFrom(...PREFIXES) }),
);

let net: LabNetwork;
const names = { table: 'asterisk_guard', priority: -310 };

type Held = Array<{ prefix: IpPrefix; until: number | null }>;

/** Same prefixes, same permanence, expiries within 2 s (the kernel reports whole seconds). */
function expectSameBans(actual: Held, expected: Held): void {
  const key = (b: Held[number]) => b.prefix.text;
  expect(actual.map(key).sort()).toEqual(expected.map(key).sort());
  for (const e of expected) {
    const a = actual.find((x) => x.prefix.text === e.prefix.text)!;
    if (e.until === null) expect(a.until).toBeNull();
    else expect(Math.abs(a.until! - e.until)).toBeLessThanOrEqual(2000);
  }
}

describe('restart reproduces the kernel state (property, real nft)', () => {
  beforeAll(async () => {
    net = await LabNetwork.create('agprop', { name: 'pbx', addresses: ['192.0.2.1'] }, []);
  });
  afterAll(async () => {
    await net?.destroy();
  });

  it('after any sequence of bans and unbans', async () => {
    const runner = netnsRunner(net.ns('pbx'));
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 12 }), async (ops) => {
        const store = Store.open(':memory:');
        const driver = new NftablesDriver(runner, names);
        await driver.destroy();
        await driver.init();
        const ledger = new BanLedger(
          { ladder: [600_000], lookbackMs: 86_400_000, maxImportedMs: null, widest: { 4: 16, 6: 32 }, maxBans: 1000, fleetShare: { all: 1000, perNode: 1000 }, atMaxBans: 'refuse', widenTo: { 4: 24, 6: 48 } },
          new NeverBan([], []),
        );
        try {
          for (const o of ops) {
            const now = Date.now();
            if (o.kind === 'ban') {
              const d = ledger.request({ target: o.prefix, time: now, reason: 'manual', origin: 'cli', durationMs: o.minutes === null ? null : o.minutes * 60_000 });
              // A refusal (banned already, longer) changes nothing anywhere.
              if (isRefusal(d)) continue;
              const until = d.durationMs === null ? null : now + d.durationMs;
              await driver.ban([{ prefix: o.prefix, until, replaces: d.replaces }], now);
              store.recordBan({ prefix: o.prefix, since: now, until, reason: 'test', origin: 'cli', step: 0, evidence: null });
            } else {
              if (ledger.lift(o.prefix, now, 'cli')) {
                await driver.unban([o.prefix]);
                store.liftBan(o.prefix, now);
              }
              expect((await driver.list(Date.now())).map((b) => b.prefix.text)).not.toContain(o.prefix.text);
              expect(store.activeBans(Date.now()).map((b) => b.prefix.text)).not.toContain(o.prefix.text);
            }
          }
          const before = await driver.list(Date.now());
          driver.close();
          const restarted = new NftablesDriver(runner, names);
          await restarted.init();
          await restarted.reconcile(store.activeBans(Date.now()), Date.now());
          expectSameBans(await restarted.list(Date.now()), before);
          restarted.close();
        } finally {
          driver.close();
          store.close();
        }
      }),
      { numRuns: 25 },
    );
  }, 120_000);
});
