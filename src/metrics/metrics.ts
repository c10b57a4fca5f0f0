import http from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

import type { BanLatency } from '../effects/bus.js';
import type { MetricFamily } from '../parts/part.js';

// Prometheus metrics. The hot path keeps its own plain counters (Pipeline, Policy, Enforcer);
// the parts describe them as families (src/parts) and the metrics read them when scraped, so
// observing costs the event path nothing. Only the latency histogram is fed as bans happen.

export class Metrics {
  readonly registry = new Registry();
  private readonly latency: Histogram<'stage'>;

  /** `node`: fleet mode, a label on every series (one Prometheus for 50 PBXs). */
  constructor(families: readonly MetricFamily[], node?: string) {
    const registers = [this.registry];
    if (node !== undefined) this.registry.setDefaultLabels({ node });
    for (const f of families) {
      const Kind = f.type === 'counter' ? Counter : Gauge;
      new Kind({
        name: f.name,
        help: f.help,
        labelNames: f.labels ?? [],
        registers,
        collect() {
          this.reset();
          const v = f.read();
          if (typeof v === 'number') this.inc(v);
          else for (const [labels, n] of v) this.inc(labels, n);
        },
      });
    }
    this.latency = new Histogram({
      name: 'asterisk_guard_decision_latency_seconds',
      help: 'From the security event received to the drop committed in the kernel (stage=kernel) to the flows it started deleted from conntrack (stage=conntrack), and the flows towards it (stage=conntrack_to)',
      labelNames: ['stage'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1],
      registers,
    });
  }

  /** A ban's latencies, in seconds as Prometheus counts time. */
  observeBan(l: BanLatency): void {
    this.latency.observe({ stage: 'kernel' }, l.kernel / 1000);
    if (l.conntrack !== null) this.latency.observe({ stage: 'conntrack' }, l.conntrack / 1000);
    if (l.conntrackTo !== null) this.latency.observe({ stage: 'conntrack_to' }, l.conntrackTo / 1000);
  }

  /**
   * Serves /metrics on the given address until closed. Any local user can connect, so
   * connections are few and short: 20,000 idle ones once took every file descriptor the
   * daemon had (the admin socket with them). A scrape reads counters only: O(series).
   */
  async serve(host: string, port: number, limits: { maxConnections: number; idleMs: number } = { maxConnections: 16, idleMs: 5000 }): Promise<http.Server> {
    const server = http.createServer({ requestTimeout: limits.idleMs, headersTimeout: limits.idleMs, keepAliveTimeout: Math.min(limits.idleMs, 2000) }, (req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end('see /metrics\n');
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        (e: Error) => res.writeHead(500).end(e.message),
      );
    });
    server.maxConnections = limits.maxConnections;
    // A connection that sends nothing is closed: one that never sends a request holds a descriptor.
    server.setTimeout(limits.idleMs, (socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    return server;
  }
}
