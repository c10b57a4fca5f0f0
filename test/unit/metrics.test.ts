import { readFileSync } from 'node:fs';
import { connect, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { Core } from '../../src/core.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { alertMetrics } from '../../src/parts/alerts-part.js';
import { amiMetrics } from '../../src/parts/ami-part.js';
import { fleetMetrics } from '../../src/parts/fleet-part.js';
import { fraudMetrics } from '../../src/parts/fraud-part.js';
import { kernelMetrics } from '../../src/parts/kernel-part.js';
import type { MetricFamily } from '../../src/parts/part.js';
import { coreMetrics } from '../../src/parts/policy-part.js';

// The families of the daemon's parts (src/parts), each reading the totals these stand for.
const core = {
  pipeline: { eventsByKind: new Map([['PJSIP/ChallengeResponseFailed', 7]]), problems: { counts: new Map([['oversized-line', 2]]) } },
  policy: { outcomes: { ban: 1 }, sieges: { size: 1 } },
  ledger: { count: () => 3 },
} as unknown as Core;
const families: MetricFamily[] = [
  ...coreMetrics(core, new Map([['tripwire', 1]]), () => 0),
  ...amiMetrics({ connected: () => true, reconnects: () => 4, canaryOk: () => 0 }),
  ...kernelMetrics({ firewallErrors: () => 0, conntrackErrors: () => 1, tableRepairs: () => 2, conntrack: () => ({ entries: 261_000, max: 262_144, drops: 17 }) }),
  ...alertMetrics({ sent: 5, failed: 1 }),
];
const metrics = new Metrics(families);

describe('metrics', () => {
  it('names the node on every series in a fleet, with the link to Redis', async () => {
    const fleet = new Metrics([...families, ...fleetMetrics({ connected: false, pending: 3, stats: { refused: 2, applied: 7, published: 5 } })], 'pbx-a');
    const text = await fleet.registry.metrics();
    for (const line of ['asterisk_guard_active_bans{node="pbx-a"} 3', 'asterisk_guard_fleet_link_up{node="pbx-a"} 0', 'asterisk_guard_fleet_outbox{node="pbx-a"} 3', 'asterisk_guard_fleet_entries_total{direction="refused",node="pbx-a"} 2']) expect(text).toContain(line);
  });

  it('reads the running totals when scraped', async () => {
    const text = await metrics.registry.metrics();
    for (const line of [
      'asterisk_guard_security_events_total{service="PJSIP",kind="ChallengeResponseFailed"} 7',
      'asterisk_guard_active_bans 3',
      'asterisk_guard_bans_total{reason="tripwire"} 1',
      'asterisk_guard_ami_reconnects_total 4',
      'asterisk_guard_firewall_errors_total{command="conntrack"} 1',
      'asterisk_guard_alerts_total{result="failed"} 1',
      'asterisk_guard_table_repairs_total 2',
      'asterisk_guard_conntrack_entries 261000',
      'asterisk_guard_conntrack_max 262144',
      'asterisk_guard_conntrack_drops_total 17',
      'asterisk_guard_canary_ok 0',
      'asterisk_guard_sieges_active 1',
      'asterisk_guard_input_skipped_total{kind="oversized-line"} 2',
    ]) {
      expect(text).toContain(line);
    }
  });

  it('says 0 of 0 where the kernel has no connection tracking loaded', async () => {
    const text = await new Metrics(kernelMetrics({ firewallErrors: () => 0, conntrackErrors: () => 0, tableRepairs: () => 0, conntrack: () => undefined })).registry.metrics();
    for (const line of ['asterisk_guard_conntrack_entries 0', 'asterisk_guard_conntrack_max 0', 'asterisk_guard_conntrack_drops_total 0']) expect(text).toContain(line);
  });

  it('counts the toll-fraud guard\'s verdicts and blocked endpoints when it is on', async () => {
    const withFraud = new Metrics([...families, ...fraudMetrics(() => ({ verdicts: { alert: 2, hangup: 1, block: 1 }, blocked: 1 }))]);
    const text = await withFraud.registry.metrics();
    for (const line of ['asterisk_guard_fraud_verdicts_total{verdict="block"} 1', 'asterisk_guard_fraud_verdicts_total{verdict="alert"} 2', 'asterisk_guard_fraud_blocked_endpoints 1']) expect(text).toContain(line);
    expect(await metrics.registry.metrics()).not.toContain('asterisk_guard_fraud_');
  });

  it('has a Grafana dashboard that asks only for metrics that exist', async () => {
    const dashboard = JSON.parse(readFileSync(new URL('../../docs/grafana-dashboard.json', import.meta.url), 'utf8')) as { panels: Array<{ targets: Array<{ expr: string }> }> };
    const all = new Metrics([...families, ...fleetMetrics({ connected: true, pending: 0, stats: { refused: 0, applied: 0, published: 0 } }), ...fraudMetrics(() => ({ verdicts: { alert: 0, hangup: 0, block: 0 }, blocked: 0 }))]);
    const names = new Set((await all.registry.getMetricsAsJSON()).map((m) => m.name));
    const used = dashboard.panels.flatMap((p) => p.targets.flatMap((t) => t.expr.match(/asterisk_guard_[a-z_]+/g) ?? []));
    expect(used.length).toBeGreaterThan(8);
    for (const name of used) expect(names.has(name.replace(/_(bucket|sum|count)$/, '')), name).toBe(true);
  });

  it('serves few connections at once and closes idle ones, so a local user cannot take its descriptors', async () => {
    const server = await metrics.serve('127.0.0.1', 0, { maxConnections: 4, idleMs: 300 });
    const { port } = server.address() as AddressInfo;
    const idle = Array.from({ length: 50 }, () => connect(port, '127.0.0.1').on('error', () => {}));
    const closed = idle.map((s) => new Promise<number>((resolve) => s.on('close', () => resolve(Date.now()))));
    const started = Date.now();
    // Past the limit they are dropped at once; the idle rest within their idle time.
    const times = await Promise.all(closed);
    expect(times.filter((t) => t - started < 200).length).toBeGreaterThanOrEqual(40);
    expect(Math.max(...times) - started).toBeLessThan(3000);
    const scrape = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(await scrape.text()).toContain('asterisk_guard_active_bans 3');
    server.close();
  });
});
