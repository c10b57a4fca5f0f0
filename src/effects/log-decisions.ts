import type { Logger } from 'pino';
import type { DecisionBus } from './bus.js';

const round3 = (x: number | null) => (x === null ? null : Math.round(x * 1000) / 1000);

/** One log line per change, with what an admin greps for: the prefix, the reason, the latencies. */
export function logDecisions(bus: DecisionBus, log: Logger): void {
  bus.on('flushed', (d, latency) => {
    log.info(
      {
        decision: d.action,
        prefix: d.target.text,
        reason: d.reason,
        origin: d.origin,
        bantime_s: d.durationMs === null ? null : Math.round(d.durationMs / 1000),
        step: d.step,
        evidence: d.evidence,
        latency_ms: { kernel: round3(latency.kernel), conntrack: round3(latency.conntrack), conntrack_to: round3(latency.conntrackTo) },
      },
      `ban ${d.target.text}`,
    );
  });
  bus.on('lifted', (prefix, _time, origin, via) => log.info({ decision: 'unban', prefix: prefix.text, origin, ...(via ? { via } : {}) }, `unban ${prefix.text}`));
  bus.on('fraud', (d) => {
    const fields = { decision: 'fraud', verdict: d.verdict, endpoint: d.endpoint, channel: d.channel, number: d.number, to: d.destination.e164, country: d.destination.country, kind: d.destination.kind, source: d.source?.text ?? null, banned: d.banned, rules: d.hits.map((h) => h.rule) };
    if (d.verdict === 'alert') log.warn(fields, `fraud ${d.endpoint}: ${d.text}`);
    else log.error(fields, `fraud ${d.endpoint}: ${d.text}`);
  });
  bus.on('alert', (d) => {
    const fields = { decision: 'alert', severity: d.severity, reason: d.reason, prefix: d.target?.text ?? null, evidence: d.evidence };
    if (d.severity === 'critical') log.error(fields, d.text);
    else log.warn(fields, d.text);
  });
}
