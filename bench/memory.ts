// Benchmark 2: resident memory while tracking 1M distinct sources, and once the cap is reached
// (2M distinct sources against max_sources 1M: the board must stay flat). Run with --expose-gc.
import { parseConfig } from '../src/config/load.js';
import { recordReader } from '../src/events/fields.js';
import { parseSecurityEvent } from '../src/events/parse-event.js';
import { createLogger } from '../src/log.js';
import { buildCore } from '../src/core.js';

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

export function runMemoryBench(): { baselineMb: number; at1MMb: number; at2MMb: number; tracked: number } {
  // Every source tracked: range scores kept (their board is measured too), never banning.
  const { policy, scoreboard } = buildCore(parseConfig('detect: { max_sources: 1000000 }\npolicy: { range: { threshold: 1e9, flood_window: 0s } }', 'bench'), createLogger('silent', 'stderr'), { useEventTime: false });
  gc();
  const baseline = process.memoryUsage().rss;
  let at1M = 0;
  for (let i = 0; i < 2_000_000; i++) {
    // 198.18.0.0/15 (benchmarking) for the first 128k, then 2001:db8::/32 /64s: data only.
    const remote = i < 131_072 ? `IPV4/UDP/198.${18 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/5060` : `IPV6/UDP/2001:db8:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::1/5060`;
    const r = parseSecurityEvent(recordReader({ Event: 'InvalidAccountID', Service: 'PJSIP', AccountID: `${1000 + (i % 50)}`, RemoteAddress: remote }), i, false);
    if (r.ok) policy.handle(r.event);
    if (i === 999_999) {
      gc();
      at1M = process.memoryUsage().rss;
    }
  }
  gc();
  const at2M = process.memoryUsage().rss;
  return { baselineMb: baseline / 1e6, at1MMb: at1M / 1e6, at2MMb: at2M / 1e6, tracked: scoreboard.size };
}

