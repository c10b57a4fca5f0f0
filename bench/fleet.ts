// Benchmark 8: a ban decided on PBX A, in PBX C's kernel: A's ledger → A's (dry-run) commit →
// Redis stream → C's reader → C's ledger → C's nftables driver, committed. 1,000 bans, one at a
// time, through a real redis-server (Debian's), both guards in this process, inside a network
// namespace made for it (fleet-main.ts). The reference, same run: a Redis round trip (PING)
// and C's own enforcer → drop, the two parts the "about 1 ms" adds up.
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { createClient } from 'redis';
import { parseConfig } from '../src/config/load.js';
import { buildCore } from '../src/core.js';
import { decisionBus } from '../src/effects/bus.js';
import { processRunner } from '../src/enforce/command-runner.js';
import { DryRunDriver } from '../src/enforce/dry-run-driver.js';
import { Enforcer } from '../src/enforce/enforcer.js';
import type { FirewallDriver } from '../src/enforce/firewall-driver.js';
import { NftablesDriver } from '../src/enforce/nftables-driver.js';
import { wireFleet } from '../src/fleet/wire-fleet.js';
import { parseIpPrefix, type IpPrefix } from '../src/net/ip-prefix.js';
import { Store } from '../src/store/store.js';
import { systemClock } from '../src/time/clock.js';
import { LabRedis } from '../lab/redis.js';

export interface FleetResults {
  readonly propagationP50: number;
  readonly propagationP99: number;
  readonly redisPingP50: number;
  readonly redisPingP99: number;
  readonly enforcerP99: number;
  readonly bans: number;
}

const log = pino({ level: 'silent' });
const quantile = (sorted: readonly number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

function address(n: number): IpPrefix {
  const r = parseIpPrefix(`198.${18 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
}

function node(name: string, redisUrl: string, driver: FirewallDriver) {
  const config = parseConfig(`fleet: { redis: '${redisUrl}', node: ${name} }`, `${name}.yaml`);
  const bus = decisionBus();
  const enforcer = new Enforcer(driver, bus, log, { clock: systemClock, retryBaseMs: 10, retryMaxMs: 100, conntrackAttempts: 1 });
  const core = buildCore(config, log, { useEventTime: false, sink: enforcer });
  const fleet = wireFleet(config, { ...core, store: Store.open(':memory:'), bus, clock: systemClock, log });
  return { core, bus, link: fleet.link, fleet };
}

/** Runs inside the namespace fleet-main.ts made (redis-server and nft in it). */
export async function runFleetBench(bans = 1000, gapMs = 50): Promise<FleetResults> {
  const redis = await LabRedis.start();
  const cDriver = new NftablesDriver(processRunner(), { table: 'asterisk_guard', priority: -310 });
  await cDriver.init();
  const a = node('pbx-a', redis.url, new DryRunDriver(log));
  const c = node('pbx-c', redis.url, cDriver);
  try {
    const start = performance.now();
    while (!(a.link.connected && c.link.connected)) {
      if (performance.now() - start > 5000) throw new Error('the fleet did not link within 5 s');
      await new Promise((r) => setTimeout(r, 10));
    }
    const ping = createClient({ url: redis.url });
    await ping.connect();
    const pings: number[] = [];
    for (let i = 0; i < 1000; i++) {
      const t = performance.now();
      await ping.sendCommand(['PING']);
      pings.push(performance.now() - t);
    }
    await ping.quit();

    const propagation: number[] = [];
    const enforcer: number[] = [];
    let arrived: (() => void) | undefined;
    let sentAt = 0;
    c.bus.on('committed', () => {
      propagation.push(performance.now() - sentAt);
      arrived?.();
    });
    c.bus.on('flushed', (_d, l) => enforcer.push(l.kernel));
    for (let i = 0; i < bans; i++) {
      const done = new Promise<void>((r) => (arrived = r));
      sentAt = performance.now();
      a.core.ledger.request({ target: address(i), time: Date.now(), reason: 'manual', origin: 'cli', durationMs: 600_000 });
      await done;
      // One ban at a time: latency, not throughput. 20 bans a second, far above a real attack's
      // ban rate, lets each ban's conntrack flushes on C end before the next (2 ms apart, C's
      // commits land beside its flushes: docs/benchmarks.md).
      await new Promise((r) => setTimeout(r, gapMs));
    }
    pings.sort((x, y) => x - y);
    propagation.sort((x, y) => x - y);
    enforcer.sort((x, y) => x - y);
    return { propagationP50: quantile(propagation, 0.5), propagationP99: quantile(propagation, 0.99), redisPingP50: quantile(pings, 0.5), redisPingP99: quantile(pings, 0.99), enforcerP99: quantile(enforcer, 0.99), bans: propagation.length };
  } finally {
    await a.fleet.stop();
    await c.fleet.stop();
    await cDriver.destroy();
    await redis.kill();
  }
}
