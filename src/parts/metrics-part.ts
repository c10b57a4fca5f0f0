import type { Server } from 'node:http';
import { changedKeys, type DaemonContext, type MetricFamily, type Part } from './part.js';

/**
 * Prometheus metrics of every part on the list before it (`metrics.enabled`). prom-client is
 * loaded only then: it costs ~14 MB of resident memory.
 */
export function metricsPart(ctx: DaemonContext, families: () => readonly MetricFamily[]): Part {
  const { log, bus } = ctx;
  const config = ctx.config();
  let server: Server | undefined;
  return {
    name: 'metrics',
    async start() {
      if (!config.metrics.enabled) return;
      const { Metrics } = await import('../metrics/metrics.js');
      const metrics = new Metrics(families(), config.fleet?.node);
      bus.on('flushed', (_d, l) => metrics.observeBan(l));
      server = await metrics.serve('127.0.0.1', config.metrics.port);
      log.info({ url: `http://127.0.0.1:${config.metrics.port}/metrics` }, 'Prometheus metrics served');
    },
    async stop() {
      server?.close();
    },
    restartOnly: (running, next) => changedKeys(running, next, ['metrics']),
  };
}
