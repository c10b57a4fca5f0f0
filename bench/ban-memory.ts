// Benchmark 7: resident bytes per ban in force, at 100k and 1M bans, through the daemon's own
// core, enforcer (dry-run driver: the kernel's memory is the kernel's), store and admin socket;
// then the event path's latency while an admin lists every ban (`asterisk-guard list`, a
// separate process), against the same latency with no list running. Run with --expose-gc.
import { execa } from 'execa';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { parseConfig } from '../src/config/load.js';
import { Guard, guardHandler } from '../src/control/guard.js';
import { ControlServer } from '../src/control/server.js';
import { buildCore } from '../src/core.js';
import { decisionBus } from '../src/effects/bus.js';
import { recordInStore } from '../src/effects/record-in-store.js';
import { DryRunDriver } from '../src/enforce/dry-run-driver.js';
import { Enforcer } from '../src/enforce/enforcer.js';
import { recordReader } from '../src/events/fields.js';
import { parseIpPrefix, type IpPrefix } from '../src/net/ip-prefix.js';
import { Persister } from '../src/store/persister.js';
import { Store } from '../src/store/store.js';
import { systemClock } from '../src/time/clock.js';

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));

/** Source n: 198.18.0.0/15 (benchmarking) for the first 128k, then /64s of 2001:db8::/32. Data only. */
function remote(n: number): string {
  if (n < 131_072) return `IPV4/UDP/198.${18 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}/5060`;
  const m = n - 131_072;
  return `IPV6/UDP/2001:db8:${(m >> 16).toString(16)}:${(m & 0xffff).toString(16)}::1/5060`;
}

/**
 * Resident bytes once garbage is gone. V8 hands the pages a collection freed back to the system
 * from a background thread: read right after gc() they still count (up to ~90 MB at 200k bans,
 * depending on how much garbage the last second made), so wait until RSS stops falling.
 */
async function settledRss(): Promise<number> {
  gc();
  gc();
  let rss = process.memoryUsage().rss;
  for (let i = 0; i < 20; i++) {
    await sleep(250);
    const now = process.memoryUsage().rss;
    if (i > 0 && now >= rss - 64 * 1024) return Math.min(now, rss);
    rss = Math.min(now, rss);
  }
  return rss;
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export interface BanMemoryResults {
  readonly baselineMb: number;
  readonly at100k: { bans: number; rssMb: number; bytesPerBan: number };
  readonly at1M: { bans: number; rssMb: number; bytesPerBan: number };
  readonly latency: { idleP50: number; idleP99: number; listingP50: number; listingP99: number; listSeconds: number; listed: number };
}

export async function runBanMemoryBench(): Promise<BanMemoryResults> {
  const dir = mkdtempSync(path.join(tmpdir(), 'ag-bench-bans-'));
  const log = pino({ level: 'silent' });
  // A decoy account bans at its first failure: one event, one ban. The subnet rule is off and
  // the range rule scores without banning (a failure from inside a banned /24 stops at
  // "already banned"): a ban per source, 256 to a /24, is what is measured.
  const config = parseConfig(`detect: { decoys: [bench] }\npolicy: { max_bans: 2000000, range: { threshold: 1e9, flood_window: 0s }, subnet: { enabled: false } }\nstore: { path: ${dir}/state.db }`, 'bench');
  const bus = decisionBus();
  const enforcer = new Enforcer(new DryRunDriver(log), bus, log, { clock: systemClock, retryBaseMs: 10, retryMaxMs: 100, conntrackAttempts: 1 });
  const core = buildCore(config, log, { useEventTime: false, sink: enforcer });
  const store = Store.open(config.store.path);
  const persister = new Persister(log, { clock: systemClock, retryBaseMs: 100, retryMaxMs: 1000, onFailing: () => {}, atomically: (w) => store.transaction(w) });
  recordInStore(bus, store, persister);
  await enforcer.prepare();
  const socket = path.join(dir, 'control.sock');
  const guard = new Guard({
    ...core,
    enforcer,
    store,
    clock: systemClock,
    status: () => ({}),
    syncAllowed: async () => {},
    storeWrites: () => ({ failing: persister.failing, pending: persister.pending }),
  });
  const control = new ControlServer(socket, guardHandler(guard), log);
  await control.listen();

  const ingest = (n: number) =>
    core.pipeline.ingest(recordReader({ Event: 'InvalidAccountID', Service: 'PJSIP', AccountID: 'bench', LocalAddress: 'IPV4/UDP/192.0.2.1/5060', RemoteAddress: remote(n) }), systemClock.now());
  const settle = async () => {
    await enforcer.drain({ flushes: true });
    while (persister.pending > 0) await sleep(20);
    return settledRss();
  };
  const measure = async () => {
    const rss = await settle();
    const bans = core.ledger.count(systemClock.now());
    return { bans, rssMb: rss / 1e6, bytesPerBan: Math.round((rss - baseline) / (bans - baseBans)) };
  };

  let n = 0;
  const banUpTo = async (count: number) => {
    for (; n < count; n++) {
      ingest(n);
      if (n % 5000 === 4999) await enforcer.drain({ flushes: false });
    }
  };
  // The baseline is a daemon that has banned a thousand: its heap, the store's cache and the
  // modules warmed up; what grows from there is the cost of the bans.
  await banUpTo(1000);
  const baseline = await settle();
  const baseBans = core.ledger.count(systemClock.now());
  const total = Number(process.env['AG_BENCH_BANS'] ?? 1_000_000);
  await banUpTo(total / 10);
  const at100k = await measure();
  await banUpTo(total);
  const at1M = await measure();

  // One new source every 2 ms; latency from when it was due (an event waiting in the socket
  // while the loop is busy waits too) to its drop committed.
  const eventPath = async (events: number): Promise<number[]> => {
    const latencies: number[] = [];
    const due = new Map<string, number>();
    const onCommitted = (d: { target: IpPrefix }) => {
      const t = due.get(d.target.text);
      if (t !== undefined) latencies.push(performance.now() - t);
    };
    bus.on('committed', onCommitted);
    const start = performance.now();
    for (let i = 0; i < events; i++) {
      const at = start + i * 2;
      const wait = at - performance.now();
      if (wait > 0) await sleep(wait);
      const r = parseIpPrefix(remote(n).split('/')[2]!);
      // A timer may fire a hair early: then the event arrives when it is ingested.
      if (r.ok) due.set(core.policy.keyOf(r.value).text, Math.min(at, performance.now()));
      ingest(n++);
    }
    await enforcer.drain({ flushes: false });
    bus.off('committed', onCommitted);
    return latencies.sort((a, b) => a - b);
  };
  const idle = await eventPath(1000);
  const started = performance.now();
  const listing = execa(process.execPath, [CLI, 'list', '--socket', socket], { stdout: 'ignore', stderr: 'inherit' });
  const during: number[] = [];
  while (listing.exitCode === null) {
    during.push(...(await eventPath(250)));
    if (during.length > 20_000) break;
  }
  const listed = await listing;
  const listSeconds = (performance.now() - started) / 1000;
  during.sort((a, b) => a - b);
  await control.close();
  persister.flush();
  store.close();
  return {
    baselineMb: baseline / 1e6,
    at100k,
    at1M,
    latency: { idleP50: quantile(idle, 0.5), idleP99: quantile(idle, 0.99), listingP50: quantile(during, 0.5), listingP99: quantile(during, 0.99), listSeconds, listed: listed.exitCode === 0 ? at1M.bans : -1 },
  };
}

/**
 * The reference: the same bans as one JavaScript object each in a Map keyed by prefix text,
 * the ledger's layout before BanTable (and a driver mirror's). Resident bytes per ban.
 */
export async function runObjectLedgerReference(count: number): Promise<number> {
  const baseline = await settledRss();
  const bans = new Map<string, { prefix: IpPrefix; since: number; until: number | null; reason: string; origin: string; step: number }>();
  for (let n = 0; n < count; n++) {
    const r = parseIpPrefix(n < 131_072 ? remote(n).split('/')[2]! : `${remote(n).split('/')[2]!}/64`);
    if (!r.ok) continue;
    const now = Date.now();
    bans.set(r.value.text, { prefix: r.value, since: now, until: now + 600_000, reason: 'tripwire', origin: 'auto', step: 0 });
  }
  const rss = await settledRss();
  // Still held: measured with the bans alive.
  return bans.size === 0 ? 0 : Math.round((rss - baseline) / bans.size);
}
