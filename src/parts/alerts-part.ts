import { logDecisions } from '../effects/log-decisions.js';
import { sendAlerts } from '../effects/send-alerts.js';
import { buildChannels } from '../notify/build-channels.js';
import { Notifier } from '../notify/notifier.js';
import { changedKeys, type DaemonContext, type MetricFamily, type Part } from './part.js';

/** How long a stop waits for alerts still being delivered. */
const DELIVERY_BUDGET_MS = 5000;

/** What the admins hear: every ban, alert and trouble by e-mail and webhook, and a log line each. */
export function alertsPart(ctx: DaemonContext): Part {
  const { log, clock, bus } = ctx;
  const config = ctx.config();
  const notifier = new Notifier(buildChannels(config), log, { digestIntervalMs: config.alerts.digest_interval, retryDelaysMs: config.alerts.retries, clock, node: config.fleet?.node });
  sendAlerts(bus, notifier);
  logDecisions(bus, log);
  // Node loads its HTTP client at the first fetch: 17-50 ms of a blocked event loop at the
  // first alert, in the middle of an attack. Made now (no request is sent).
  if (config.alerts.channels.some((c) => c.type === 'webhook')) new Request('http://localhost/');
  return {
    name: 'alerts',
    async stop() {
      await Promise.race([notifier.flush(), clock.sleep(DELIVERY_BUDGET_MS)]);
    },
    // The channels are swapped live; the retry delays and the digest interval are the
    // notifier's own clock, set at start.
    restartOnly: (running, next) => changedKeys(running, next, ['alerts.retries', 'alerts.digest_interval']),
    reload: (c) => notifier.setChannels(buildChannels(c)),
    metrics: () => alertMetrics(notifier.stats),
  };
}

export function alertMetrics(stats: { readonly sent: number; readonly failed: number }): MetricFamily[] {
  return [
    {
      name: 'asterisk_guard_alerts_total',
      help: 'Alert deliveries, by result',
      type: 'counter',
      labels: ['result'],
      read: () => [
        [{ result: 'sent' }, stats.sent],
        [{ result: 'failed' }, stats.failed],
      ],
    },
  ];
}
