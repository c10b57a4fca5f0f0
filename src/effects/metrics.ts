import type { Metrics } from '../metrics/metrics.js';
import type { DecisionBus } from './bus.js';

/** Bans committed so far, by reason: a plain map the metrics read when scraped. */
export function countBans(bus: DecisionBus): ReadonlyMap<string, number> {
  const byReason = new Map<string, number>();
  bus.on('committed', (d) => byReason.set(d.reason, (byReason.get(d.reason) ?? 0) + 1));
  return byReason;
}

/** Each ban's latencies into the histogram, in seconds as Prometheus counts time. */
export function observeLatency(bus: DecisionBus, metrics: Metrics): void {
  bus.on('flushed', (_d, l) => {
    metrics.latency.observe({ stage: 'kernel' }, l.kernel / 1000);
    if (l.conntrack !== null) metrics.latency.observe({ stage: 'conntrack' }, l.conntrack / 1000);
    if (l.conntrackTo !== null) metrics.latency.observe({ stage: 'conntrack_to' }, l.conntrackTo / 1000);
  });
}
