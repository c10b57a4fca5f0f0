import http from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

// Prometheus metrics. The hot path keeps its own plain counters (Pipeline, Policy, Enforcer);
// the metrics read them when scraped, so observing costs the event path nothing.

export interface MetricSources {
  readonly eventsByKind: () => ReadonlyMap<string, number>;
  readonly outcomes: () => Readonly<Record<string, number>>;
  readonly skippedInput: () => ReadonlyMap<string, number>;
  readonly activeBans: () => number;
  readonly bansByReason: () => ReadonlyMap<string, number>;
  readonly amiConnected: () => boolean;
  readonly amiReconnects: () => number;
  readonly firewallErrors: () => number;
  readonly conntrackErrors: () => number;
  readonly tableRepairs: () => number;
  /** 1: the last canary's event came back; 0: it did not; -1: none sent yet. */
  readonly canaryOk: () => number;
  /** Accounts under siege now. */
  readonly sieges: () => number;
  readonly alerts: () => { sent: number; failed: number };
  /** Fleet mode only: the link to Redis, what waits for it, what was refused from it. */
  readonly fleet?: (() => { connected: boolean; outbox: number; refused: number; applied: number; published: number }) | undefined;
  /** Toll-fraud guard only: calls judged by verdict, endpoints blocked now. */
  readonly fraud?: (() => { verdicts: Readonly<Record<string, number>>; blocked: number }) | undefined;
  /** Fleet mode only: this node's name, a label on every series (one Prometheus for 50 PBXs). */
  readonly node?: string | undefined;
}

export class Metrics {
  readonly registry = new Registry();
  readonly latency: Histogram<'stage'>;

  constructor(sources: MetricSources) {
    const r = [this.registry];
    if (sources.node !== undefined) this.registry.setDefaultLabels({ node: sources.node });
    new Counter({
      name: 'asterisk_guard_security_events_total',
      help: 'Security events received from Asterisk, by kind and service',
      labelNames: ['kind', 'service'],
      registers: r,
      collect() {
        this.reset();
        for (const [key, n] of sources.eventsByKind()) {
          const [service, kind] = key.split('/');
          this.inc({ service: service!, kind: kind! }, n);
        }
      },
    });
    new Counter({
      name: 'asterisk_guard_decisions_total',
      help: 'What the policy made of each security event',
      labelNames: ['outcome'],
      registers: r,
      collect() {
        this.reset();
        for (const [outcome, n] of Object.entries(sources.outcomes())) this.inc({ outcome }, n);
      },
    });
    new Counter({
      name: 'asterisk_guard_input_skipped_total',
      help: 'Malformed or unusable AMI input, skipped, by kind',
      labelNames: ['kind'],
      registers: r,
      collect() {
        this.reset();
        for (const [kind, n] of sources.skippedInput()) this.inc({ kind }, n);
      },
    });
    new Gauge({ name: 'asterisk_guard_active_bans', help: 'Bans in force', registers: r, collect() { this.set(sources.activeBans()); } });
    new Counter({
      name: 'asterisk_guard_bans_total',
      help: 'Bans put in the kernel, by reason',
      labelNames: ['reason'],
      registers: r,
      collect() {
        this.reset();
        for (const [reason, n] of sources.bansByReason()) this.inc({ reason }, n);
      },
    });
    new Gauge({ name: 'asterisk_guard_ami_connected', help: '1 while logged in to AMI', registers: r, collect() { this.set(sources.amiConnected() ? 1 : 0); } });
    new Counter({
      name: 'asterisk_guard_ami_reconnects_total',
      help: 'AMI reconnections after a lost connection',
      registers: r,
      collect() {
        this.reset();
        this.inc(sources.amiReconnects());
      },
    });
    new Counter({
      name: 'asterisk_guard_firewall_errors_total',
      help: 'Failed firewall commands',
      labelNames: ['command'],
      registers: r,
      collect() {
        this.reset();
        this.inc({ command: 'nft' }, sources.firewallErrors());
        this.inc({ command: 'conntrack' }, sources.conntrackErrors());
      },
    });
    const fleet = sources.fleet;
    if (fleet) {
      new Gauge({ name: 'asterisk_guard_fleet_link_up', help: 'Fleet mode: connected to Redis (1) or banning alone (0)', registers: r, collect() { this.set(fleet().connected ? 1 : 0); } });
      new Gauge({ name: 'asterisk_guard_fleet_outbox', help: 'Fleet mode: decisions of this node waiting for Redis', registers: r, collect() { this.set(fleet().outbox); } });
      new Counter({
        name: 'asterisk_guard_fleet_entries_total',
        help: 'Fleet mode: entries published by this node, applied from others, refused as invalid (read from Redis: untrusted)',
        labelNames: ['direction'],
        registers: r,
        collect() {
          const f = fleet();
          this.reset();
          this.inc({ direction: 'published' }, f.published);
          this.inc({ direction: 'applied' }, f.applied);
          this.inc({ direction: 'refused' }, f.refused);
        },
      });
    }
    const fraud = sources.fraud;
    if (fraud) {
      new Counter({
        name: 'asterisk_guard_fraud_verdicts_total',
        help: 'Calls the toll-fraud guard judged, by verdict: alert, hangup, block',
        labelNames: ['verdict'],
        registers: r,
        collect() {
          this.reset();
          for (const [verdict, n] of Object.entries(fraud().verdicts)) this.inc({ verdict }, n);
        },
      });
      new Gauge({ name: 'asterisk_guard_fraud_blocked_endpoints', help: 'Endpoints whose outbound calls are blocked until an admin clears them', registers: r, collect() { this.set(fraud().blocked); } });
    }
    new Gauge({ name: 'asterisk_guard_sieges_active', help: 'Accounts under siege: failing from many sources, every further source banned at its first failure', registers: r, collect() { this.set(sources.sieges()); } });
    new Gauge({ name: 'asterisk_guard_canary_ok', help: 'Did the last canary AMI login come back as a security event (1), not (0), none yet (-1)', registers: r, collect() { this.set(sources.canaryOk()); } });
    new Counter({
      name: 'asterisk_guard_table_repairs_total',
      help: 'Times our nft table was found changed by something else and rebuilt',
      registers: r,
      collect() {
        this.reset();
        this.inc(sources.tableRepairs());
      },
    });
    new Counter({
      name: 'asterisk_guard_alerts_total',
      help: 'Alert deliveries, by result',
      labelNames: ['result'],
      registers: r,
      collect() {
        const a = sources.alerts();
        this.reset();
        this.inc({ result: 'sent' }, a.sent);
        this.inc({ result: 'failed' }, a.failed);
      },
    });
    this.latency = new Histogram({
      name: 'asterisk_guard_decision_latency_seconds',
      help: 'From the security event received to the drop committed in the kernel (stage=kernel) to the flows it started deleted from conntrack (stage=conntrack), and the flows towards it (stage=conntrack_to)',
      labelNames: ['stage'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1],
      registers: r,
    });
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
