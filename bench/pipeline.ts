// Benchmark 1: AMI framing, normalising and scoring of 1M real-format security events from
// 100k distinct sources, on one core (the event loop's). Prints events per second.
import { performance } from 'node:perf_hooks';
import { AmiFrameDecoder } from '../src/ami/frame-decoder.js';
import { parseConfig } from '../src/config/load.js';
import { createLogger } from '../src/log.js';
import { buildCore } from '../src/core.js';

export function syntheticCapture(events: number, sources: number): Buffer {
  const parts: string[] = [];
  for (let i = 0; i < events; i++) {
    const s = i % sources;
    // Sources from 198.18.0.0/15, the benchmarking range: data only, no traffic.
    const ip = `198.${18 + (s >> 16)}.${(s >> 8) & 255}.${s & 255}`;
    parts.push(
      `Event: ChallengeResponseFailed\r\nPrivilege: security,all\r\nEventTV: 2026-11-25T06:03:55.621+0000\r\nSeverity: Error\r\nService: PJSIP\r\nEventVersion: 1\r\nAccountID: 1001\r\nSessionID: ${2066618266 + i}@127.0.0.1\r\nLocalAddress: IPV4/UDP/192.0.2.1/5060\r\nRemoteAddress: IPV4/UDP/${ip}/41412\r\nChallenge: 1795586635/ad3f1208e792d369e9cd1ee9a618566f\r\nResponse: 9a09affb85f6b18802bda71708ed1bf9\r\nExpectedResponse: \r\n\r\n`,
    );
  }
  return Buffer.from(parts.join(''));
}

/**
 * Scoring as the daemon does, range scores included, with what would ban a /24 out of reach:
 * the synthetic sources are packed 256 to a /24 on one account, so range, subnet and siege bans
 * would turn the run into 'already banned' lookups (docs/benchmarks.md, benchmark 1).
 */
const BENCH_CONFIG = 'policy: { range: { threshold: 1e9, flood_window: 0s }, subnet: { enabled: false }, account_attack: { enabled: false } }';

/** One pass of the capture through a fresh pipeline, in 64 KiB chunks as a socket delivers them. */
function pass(capture: Buffer, events: number, moreConfig: string): { eventsPerSecond: number; bans: number } {
  const { pipeline, policy } = buildCore(parseConfig(`${BENCH_CONFIG}\n${moreConfig}`, 'bench'), createLogger('silent', 'stderr'), { useEventTime: false });
  let t = 0;
  const decoder = new AmiFrameDecoder({ frame: (f) => pipeline.ingest(f, (t += 0.01)), banner: () => {}, malformed: () => {} });
  const start = performance.now();
  for (let i = 0; i < capture.length; i += 65536) decoder.push(capture.subarray(i, i + 65536));
  const seconds = (performance.now() - start) / 1000;
  return { eventsPerSecond: events / seconds, bans: policy.outcomes.ban };
}

/**
 * The median of three passes after one to warm the JIT up (the daemon runs for months).
 * `moreConfig`: YAML sections beside the benchmark's own (benchmark 10 adds `fraud:`).
 */
export function runPipelineBench(events = 1_000_000, sources = 100_000, moreConfig = ''): { eventsPerSecond: number; runs: number[]; bans: number } {
  const capture = syntheticCapture(events, sources);
  pass(capture, events, moreConfig);
  const runs = [pass(capture, events, moreConfig), pass(capture, events, moreConfig), pass(capture, events, moreConfig)];
  const rates = runs.map((r) => r.eventsPerSecond).sort((a, b) => a - b);
  return { eventsPerSecond: rates[1]!, runs: rates, bans: runs[0]!.bans };
}

