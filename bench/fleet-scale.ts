// Benchmark 9: one Redis for many PBXs. 1,000 simulated nodes, each with the two connections a
// guard opens (a reader blocked on the stream, a writer), against one redis-server (Debian's,
// one core): the writers send the shared-score step for 2,000 failures a second in all and
// publish 20 bans a second; every reader reads every ban. Measured: how long a ban takes to
// reach all 1,000 readers (p50/p99 over every ban and reader), and the CPU Redis used.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { createClient } from 'redis';
import { SCORE_STEP } from '../src/fleet/fleet-scores.js';
import { LabRedis } from '../lab/redis.js';

export interface FleetScaleResults {
  readonly nodes: number;
  readonly seconds: number;
  readonly failuresPerSecond: number;
  readonly bansPerSecond: number;
  readonly deliveries: number;
  readonly propagationP50: number;
  readonly propagationP99: number;
  /** Per ban, its first reader: Redis's part, before this process works through the other 999. */
  readonly firstP50: number;
  readonly firstP99: number;
  readonly redisCpuPercent: number;
}

const STREAM = 'asterisk-guard:{fleet}:bans';
const quantile = (sorted: readonly number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

export async function runFleetScaleBench(nodes = 1000, seconds = 10, failuresPerSecond = 2000, bansPerSecond = 20): Promise<FleetScaleResults> {
  const redis = await LabRedis.start();
  const connect = (url: string) => createClient({ url });
  const clients: Array<ReturnType<typeof connect>> = [];
  try {
    const open = async () => {
      const c = connect(redis.url);
      c.on('error', () => {});
      await c.connect();
      clients.push(c);
      return c;
    };
    const writers = [];
    const readers = [];
    for (let i = 0; i < nodes; i++) {
      writers.push(await open());
      readers.push(await open());
    }
    const sha = String(await writers[0]!.sendCommand(['SCRIPT', 'LOAD', SCORE_STEP]));
    const sentAt = new Map<string, number>();
    const latencies: number[] = [];
    const first = new Map<string, number>();
    let running = true;
    // Every node's reader, as a guard's: XREAD BLOCK from where it is.
    const reading = readers.map(async (r) => {
      let cursor = '$';
      while (running) {
        const reply = (await r.sendCommand(['XREAD', 'BLOCK', '500', 'STREAMS', STREAM, cursor])) as Record<string, Array<[string, string[]]>> | null;
        for (const entries of Object.values(reply ?? {})) {
          for (const [id, fields] of entries) {
            cursor = id;
            const prefix = fields[fields.indexOf('prefix') + 1]!;
            const t = sentAt.get(prefix);
            if (t === undefined) continue;
            const latency = performance.now() - t;
            latencies.push(latency);
            if (!first.has(prefix)) first.set(prefix, latency);
          }
        }
      }
    });
    await new Promise((r) => setTimeout(r, 1000));
    const pid = redis.pid;
    const ticks0 = cpuTicks(pid);
    const start = performance.now();
    let failures = 0;
    let bans = 0;
    const tick = 10;
    while (performance.now() - start < seconds * 1000) {
      const due = ((performance.now() - start) / 1000) * failuresPerSecond;
      for (; failures < due; failures++) {
        const w = writers[failures % nodes]!;
        const source = `198.18.${(failures >> 8) & 255}.${failures & 255}`;
        void w.sendCommand(['EVALSHA', sha, '1', `asterisk-guard:{198.18.${(failures >> 8) & 255}.0/24}:scores`, source, '1', String(Date.now()), '6000', '5', '60000']);
      }
      const bansDue = ((performance.now() - start) / 1000) * bansPerSecond;
      for (; bans < bansDue; bans++) {
        const prefix = `203.0.${113 + (bans >> 8)}.${bans & 255}`;
        sentAt.set(prefix, performance.now());
        void writers[bans % nodes]!.sendCommand(['XADD', STREAM, '*', 'op', 'ban', 'node', `n${bans % nodes}`, 'prefix', prefix, 'until', 'permanent', 'reason', 'brute-force']);
      }
      await new Promise((r) => setTimeout(r, tick));
    }
    const elapsed = (performance.now() - start) / 1000;
    await new Promise((r) => setTimeout(r, 1000));
    const ticks = cpuTicks(pid) - ticks0;
    running = false;
    await Promise.allSettled(reading);
    latencies.sort((a, b) => a - b);
    const firsts = [...first.values()].sort((a, b) => a - b);
    return {
      nodes,
      seconds: elapsed,
      failuresPerSecond: failures / elapsed,
      bansPerSecond: bans / elapsed,
      deliveries: latencies.length,
      propagationP50: quantile(latencies, 0.5),
      propagationP99: quantile(latencies, 0.99),
      firstP50: quantile(firsts, 0.5),
      firstP99: quantile(firsts, 0.99),
      // Clock ticks are 1/100 s here (getconf CLK_TCK); over the run and the second after it.
      redisCpuPercent: ticks / (elapsed + 1),
    };
  } finally {
    for (const c of clients) if (c.isOpen) c.destroy();
    await redis.kill();
  }
}
