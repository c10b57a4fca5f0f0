// Benchmarks 3-5, against the real kernel, run by kernel-main.ts inside a network namespace
// made for them (no traffic sent), as the daemon runs in its PBX's namespace: latency from an
// AMI event through the whole core (parse, score, rules, ban ledger) to the kernel, over 1,000 bans, a mass ban of 100k sources (against one `nft add element` process per ban,
// fail2ban's model), and the restart reconcile of 100k stored bans.
import { execa } from 'execa';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { processRunner } from '../src/enforce/command-runner.js';
import { parseConfig } from '../src/config/load.js';
import { buildCore } from '../src/core.js';
import { decisionBus } from '../src/effects/bus.js';
import { Enforcer } from '../src/enforce/enforcer.js';
import { NftablesDriver } from '../src/enforce/nftables-driver.js';
import { TableWatch } from '../src/enforce/table-watch.js';
import { recordReader } from '../src/events/fields.js';
import { parseIpPrefix, type IpPrefix } from '../src/net/ip-prefix.js';
import { Store } from '../src/store/store.js';
import { systemClock } from '../src/time/clock.js';

const names = { table: 'asterisk_guard', priority: -310 };

/** The nth address of 198.18.0.0/15, the benchmarking range (set elements only). */
export function benchAddress(n: number): IpPrefix {
  const r = parseIpPrefix(`198.${18 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export interface KernelResults {
  latency: { kernelP50: number; kernelP99: number; enforcerP50: number; enforcerP99: number; conntrackP50: number; conntrackP99: number; conntrackToP50: number; conntrackToP99: number; bans: number };
  massBan: { bans: number; seconds: number; perBanUs: number; processPerBanMs: number; ratio: number };
  reconcile: { bans: number; seconds: number };
  flushRestore: { bans: number; seconds: number };
}

/** Runs in the namespace the benchmark owns (kernel-main.ts puts it there). */
export async function runKernelBench(): Promise<KernelResults> {
  const runner = processRunner();
  // 3. Latency: one ban at a time, event received -> committed, -> conntrack flushed.
  const driver = new NftablesDriver(runner, names);
  await driver.init();
  const kernel: number[] = [];
  const conntrack: number[] = [];
  const conntrackTo: number[] = [];
  const enforcerOnly: number[] = [];
  const log = pino({ level: process.env['AG_BENCH_LOG'] ?? 'silent' }, pino.destination(2));
  const bus = decisionBus();
  const enforcer = new Enforcer(driver, bus, log, { clock: systemClock, retryBaseMs: 10, retryMaxMs: 100, conntrackAttempts: 1 });
  // A decoy account bans at its first failure: one event, one ban, through the daemon's own core.
  // One ban per source: the subnet and range rules, which would take their /24s, out of reach.
  const { pipeline, policy } = buildCore(parseConfig('detect: { decoys: [bench] }\npolicy: { subnet: { enabled: false }, range: { threshold: 1e9, flood_window: 0s } }', 'bench'), log, { useEventTime: false, sink: enforcer });
  let received = 0;
  let committed = 0;
  let done: (() => void) | undefined;
  bus.on('committed', () => (committed = performance.now() - received));
  bus.on('flushed', (_d, l) => {
    // The bus counts from the enforcer's hand-over; the core's own microseconds go on top.
    const core = committed - l.kernel;
    kernel.push(committed);
    enforcerOnly.push(l.kernel);
    if (l.conntrack !== null) conntrack.push(l.conntrack + core);
    if (l.conntrackTo !== null) conntrackTo.push(l.conntrackTo + core);
    done?.();
  });
  for (let i = 0; i < 1000; i++) {
    const flushed = new Promise<void>((r) => (done = r));
    received = performance.now();
    pipeline.ingest(recordReader({ Event: 'InvalidAccountID', Service: 'PJSIP', AccountID: 'bench', LocalAddress: 'IPV4/UDP/192.0.2.1/5060', RemoteAddress: `IPV4/UDP/${benchAddress(i).text}/5060` }), Date.now());
    await flushed;
  }
  if (policy.outcomes.ban !== 1000) throw new Error(`latency: ${policy.outcomes.ban} bans, not 1000`);
  kernel.sort((a, b) => a - b);
  enforcerOnly.sort((a, b) => a - b);
  conntrack.sort((a, b) => a - b);
  conntrackTo.sort((a, b) => a - b);
  const latency = {
    kernelP50: quantile(kernel, 0.5),
    kernelP99: quantile(kernel, 0.99),
    enforcerP50: quantile(enforcerOnly, 0.5),
    enforcerP99: quantile(enforcerOnly, 0.99),
    conntrackP50: quantile(conntrack, 0.5),
    conntrackP99: quantile(conntrack, 0.99),
    conntrackToP50: quantile(conntrackTo, 0.5),
    conntrackToP99: quantile(conntrackTo, 0.99),
    bans: kernel.length,
  };
  await driver.destroy();

  // 4. Mass ban: 100k distinct sources in one go, next to one process per ban (fail2ban's
  // model), sampled on a fresh set before the mass ban.
  const mass = new NftablesDriver(runner, names);
  await mass.init();
  let t0 = performance.now();
  for (let i = 100_000; i < 101_000; i++) {
    await execa('nft', ['add', 'element', 'inet', names.table, 'banned_v4_32', `{ ${benchAddress(i).text} timeout 3600s }`]);
  }
  const processPerBanMs = (performance.now() - t0) / 1000;
  await mass.destroy();
  await mass.init();
  const bans = Array.from({ length: 100_000 }, (_, i) => ({ prefix: benchAddress(i), until: Date.now() + 3_600_000 }));
  t0 = performance.now();
  await mass.ban(bans, Date.now());
  const seconds = (performance.now() - t0) / 1000;
  const inKernel = (await mass.list(Date.now())).length;
  if (inKernel !== 100_000) throw new Error(`mass ban: ${inKernel} elements in the kernel, not 100000`);
  const perBanUs = (seconds * 1e6) / 100_000;
  const massBan = { bans: 100_000, seconds, perBanUs, processPerBanMs, ratio: (processPerBanMs * 1000) / perBanUs };
  mass.close();

  // 5. Restart: 100k stored bans reconciled into the kernel (the set is full of others first).
  const store = Store.open(':memory:');
  store.recordBans(Array.from({ length: 100_000 }, (_, i) => ({ prefix: benchAddress(i + 20_000), since: Date.now(), until: Date.now() + 3_600_000, reason: 'bench', origin: 'auto' as const, step: 0, evidence: null })));
  const restarted = new NftablesDriver(runner, names);
  await restarted.init();
  t0 = performance.now();
  await restarted.reconcile(store.activeBans(Date.now()), Date.now());
  const reconcile = { bans: 100_000, seconds: (performance.now() - t0) / 1000 };
  if ((await restarted.list(Date.now())).length !== 100_000) throw new Error('reconcile: the kernel does not hold the 100k stored bans');

  // 5b. Someone else flushes the ruleset: from the flush to all 100k bans back, as the daemon
  // does it (nft monitor notices, the table is inspected, rebuilt in one transaction).
  const stored = store.activeBans(Date.now()).map((b) => ({ prefix: b.prefix, until: b.until }));
  let flushedAt = 0;
  let back: (ms: number) => void = () => {};
  const restoredIn = new Promise<number>((r) => (back = r));
  const watch = new TableWatch(
    {
      runner,
      table: names.table,
      clock: systemClock,
      checkIntervalMs: 60_000,
      inspect: () => restarted.inspect(),
      onTampered: async () => {
        await restarted.rebuild(stored, [], Date.now());
        back(performance.now() - flushedAt);
      },
    },
    log,
  );
  watch.start();
  // nft monitor reads the ruleset (100k elements) before it reports anything; the daemon's has
  // been running for long when a flush comes.
  await new Promise((r) => setTimeout(r, 3000));
  flushedAt = performance.now();
  await execa('nft', ['flush', 'ruleset']);
  const flushRestore = { bans: stored.length, seconds: (await restoredIn) / 1000 };
  watch.stop();
  if ((await restarted.list(Date.now())).length !== 100_000) throw new Error('flush restore: the kernel does not hold the 100k bans again');
  await restarted.destroy();
  return { latency, massBan, reconcile, flushRestore };
}

