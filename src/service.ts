// The composition root: the only file that knows every stage and wires them together.
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { AmiClient } from './ami/client.js';
import { resolveAmiOptions } from './ami/settings.js';
import type { Config } from './config/schema.js';
import { adminHandler } from './control/admin.js';
import { ControlServer } from './control/server.js';
import { Scoreboard, type ScoringConfig } from './detect/scoreboard.js';
import { processRunner, type CommandRunner } from './enforce/command-runner.js';
import { DryRunDriver } from './enforce/dry-run-driver.js';
import { Enforcer } from './enforce/enforcer.js';
import type { FirewallDriver } from './enforce/firewall-driver.js';
import { NftablesDriver } from './enforce/nftables-driver.js';
import { parseIpAddress, type IpPrefix } from './net/ip-prefix.js';
import { Pipeline, ProblemCounter } from './pipeline.js';
import type { BanDecision, Decision } from './policy/decision.js';
import { Policy, type PolicyConfig } from './policy/policy.js';
import { Persister } from './store/persister.js';
import { banAlert, decisionAlert, systemAlert } from './notify/alert.js';
import { emailChannel, webhookChannel, type Channel } from './notify/channels.js';
import { Notifier } from './notify/notifier.js';
import type { Metrics } from './metrics/metrics.js';
import type { Server } from 'node:http';
import path from 'node:path';
import { CallHangup } from './ari/hangup.js';
import { readAriSettings } from './ari/settings.js';
import { Store, type BanOrigin } from './store/store.js';

function scoringConfig(config: Config): ScoringConfig {
  const d = config.detect;
  return {
    threshold: d.threshold,
    halfLifeMs: d.half_life,
    slowThreshold: d.slow_threshold,
    slowHalfLifeMs: d.slow_half_life,
    weights: d.weights,
    maxSources: d.max_sources,
  };
}

function policyConfig(config: Config, neverBan: readonly IpPrefix[]): PolicyConfig {
  const p = config.policy;
  return {
    ladder: p.ladder,
    lookbackMs: p.lookback,
    allow: p.allow,
    neverBan,
    ipv6PrefixLength: config.detect.ipv6_prefix,
    trust: { durationMs: config.trust.duration, factor: config.trust.factor },
    guessedPasswordFailures: config.trust.guessed_password_failures,
    decoys: config.detect.decoys,
    subnet: { count: p.subnet.count, ipv4Length: p.subnet.ipv4_prefix, ipv6Length: p.subnet.ipv6_prefix },
    accountAttack: { sources: p.account_attack.sources, windowMs: p.account_attack.window },
  };
}

/** The pure part of the guard, built from the config: the same for `run` and `replay`. */
export function buildPipeline(config: Config, log: Logger, useEventTime: boolean, neverBan: readonly IpPrefix[] = []): { pipeline: Pipeline; policy: Policy; scoreboard: Scoreboard } {
  const scoreboard = new Scoreboard(scoringConfig(config));
  const policy = new Policy(policyConfig(config, neverBan), scoreboard);
  return { pipeline: new Pipeline(policy, new ProblemCounter(log), useEventTime), policy, scoreboard };
}

// Sections a reload cannot change without dropping the AMI connection, the socket, the store
// or the firewall session; with detect.max_sources (it sized the scoreboard): restart only.
const RESTART_SECTIONS = ['ami', 'store', 'control', 'firewall', 'metrics', 'ari'] as const;

/** `next` with what only a restart changes kept as it runs, and the names of what differed. */
function reloadable(running: Config, next: Config): { applied: Config; needRestart: string[] } {
  const needRestart: string[] = RESTART_SECTIONS.filter((k) => JSON.stringify(running[k]) !== JSON.stringify(next[k]));
  if (running.detect.max_sources !== next.detect.max_sources) needRestart.push('detect.max_sources');
  const kept = Object.fromEntries(RESTART_SECTIONS.map((k) => [k, running[k]])) as Pick<Config, (typeof RESTART_SECTIONS)[number]>;
  return { applied: Object.freeze({ ...next, ...kept, detect: { ...next.detect, max_sources: running.detect.max_sources } }), needRestart };
}

export function buildChannels(config: Config): Channel[] {
  return config.alerts.channels.map((c) =>
    c.type === 'email'
      ? emailChannel({ host: c.host, port: c.port, secure: c.secure, requireTls: c.starttls, rejectUnauthorized: c.reject_unauthorized, user: c.user, pass: c.pass, from: c.from, to: c.to, minSeverity: c.min_severity })
      : webhookChannel({ url: c.url, format: c.format, minSeverity: c.min_severity }),
  );
}

/** ARI hang-ups, if enabled and Asterisk has the guard's ARI user; else why not, once. */
function buildHangup(config: Config, log: Logger): CallHangup | undefined {
  if (!config.ari.enabled) return undefined;
  const a = config.ari;
  const settings = a.url !== undefined && a.password !== undefined ? { url: a.url.replace(/\/+$/, ''), username: a.username, password: a.password } : readAriSettings(path.dirname(config.ami.manager_conf), a.username);
  if ('missing' in settings) {
    log.warn({ reason: settings.missing }, 'ARI hang-up of banned sources\' calls is off: ' + settings.missing);
    return undefined;
  }
  return new CallHangup(settings, log);
}

export function buildDriver(config: Config, log: Logger, runner: CommandRunner = processRunner()): FirewallDriver {
  if (config.firewall.driver === 'dry-run') return new DryRunDriver(log);
  return new NftablesDriver(runner, { table: config.firewall.table, priority: config.firewall.priority });
}

export interface RunningService {
  readonly ami: AmiClient;
  readonly enforcer: Enforcer;
  readonly pipeline: Pipeline;
  readonly store: Store;
  /** Stop reading, finish kernel updates in flight; bans stay in the kernel. */
  stop(): Promise<void>;
  /**
   * Applies a reloaded config (SIGHUP): thresholds, ladder, allow-list, decoys, trust, alert
   * channels. Bans, scores and the AMI connection stay. Returns the keys that changed but
   * need a restart (they keep their old values).
   */
  reload(config: Config): Promise<string[]>;
}

export interface ServiceOptions {
  readonly runner?: CommandRunner;
  readonly driver?: FirewallDriver;
}

const ORIGIN: Partial<Record<BanDecision['reason'], BanOrigin>> = { manual: 'cli', import: 'import' };

/** Logs an alert at its severity; the one line the admin greps for. */
function logAlert(log: Logger, d: Decision & { action: 'alert' }): void {
  const fields = { decision: 'alert', severity: d.severity, reason: d.reason, prefix: d.target?.text ?? null, evidence: d.evidence };
  if (d.severity === 'critical') log.error(fields, d.text);
  else log.warn(fields, d.text);
}

/** Starts the daemon. Rejects when Asterisk refuses the login or manager.conf is unusable. */
export async function startService(config: Config, log: Logger, options: ServiceOptions = {}): Promise<RunningService> {
  const amiOptions = resolveAmiOptions(config);
  const store = Store.open(config.store.path);
  const amiHost = parseIpAddress(amiOptions.host);
  const neverBan = amiHost.ok ? [amiHost.value] : [];
  const { pipeline, policy, scoreboard } = buildPipeline(config, log, false, neverBan);
  let current = config;
  const driver = options.driver ?? buildDriver(config, log, options.runner);
  const notifier = new Notifier(buildChannels(config), log, { digestIntervalMs: config.alerts.digest_interval, retryDelaysMs: config.alerts.retries, now: Date.now });
  const persister = new Persister(log, 500, 60_000, (e) => notifier.notify(systemAlert('store-failing', Date.now(), `state database ${config.store.path} refuses writes: ${(e as Error).message}`)));
  const now = Date.now();

  // Restart: the store is the truth; the kernel is made to match it in one transaction.
  const active = store.activeBans(now);
  policy.restore({ bans: active, history: store.banHistory(now - config.policy.lookback), trusted: store.trusted(now) });
  for (const p of store.allowed()) policy.allow(p);

  const hangup = buildHangup(config, log);
  let lastDecision: Decision | undefined;
  const bansByReason = new Map<string, number>();
  let metrics: Metrics | undefined;
  const enforcer = new Enforcer(driver, log, {
    now: Date.now,
    monotonic: () => performance.now(),
    retryBaseMs: config.firewall.retry_base,
    retryMaxMs: config.firewall.retry_max,
    conntrackAttempts: 3,
    onFailing: (e) => notifier.notify(systemAlert('firewall-failing', Date.now(), `firewall command failing, bans queued and retried: ${(e as Error).message}`)),
    onLatency: (kernel, conntrack, conntrackTo) => {
      metrics?.latency.observe({ stage: 'kernel' }, kernel / 1000);
      if (conntrack !== null) metrics?.latency.observe({ stage: 'conntrack' }, conntrack / 1000);
      if (conntrackTo !== null) metrics?.latency.observe({ stage: 'conntrack_to' }, conntrackTo / 1000);
    },
    onCommitted: (d, until) => {
      if (hangup) hangup.hangupFrom(d.target).catch((e: unknown) => log.error({ err: e, prefix: d.target.text }, 'could not hang up the calls of a banned source'));
      bansByReason.set(d.reason, (bansByReason.get(d.reason) ?? 0) + 1);
      notifier.notify(banAlert(d));
      persister.write(`ban ${d.target.text}`, () => {
        store.recordBan({ prefix: d.target, since: d.time, until, reason: d.reason, origin: ORIGIN[d.reason] ?? 'auto', step: d.step, evidence: d.evidence ?? null });
        if (d.evidence) store.recordOffense(d.target.text, d.evidence.events, d.evidence.accounts, d.evidence.firstSeen, d.evidence.lastSeen);
        store.audit({ time: d.time, action: 'ban', target: d.target.text, detail: { reason: d.reason, step: d.step, until, evidence: d.evidence ?? null } });
      });
    },
  });
  if (await enforcer.prepare()) {
    const started = performance.now();
    try {
      await driver.reconcile(active.map((b) => ({ prefix: b.prefix, until: b.until })), Date.now());
      await driver.setAllowed([...config.policy.allow, ...store.allowed()]);
      log.info({ bans: active.length, ms: Math.round(performance.now() - started) }, 'kernel bans reconciled with the store');
    } catch (e) {
      log.error({ err: e }, 'reconciling the kernel with the store failed; new bans still work');
    }
  }

  let events = 0;
  let rate = 0;
  const rateTimer = setInterval(() => {
    rate = events / 5;
    events = 0;
  }, 5000);
  rateTimer.unref();

  const ami = new AmiClient(amiOptions);
  ami.on('event', (fields, arrival) => {
    const received = performance.now();
    events++;
    const decisions = pipeline.ingest(fields, arrival);
    if (!decisions) return;
    for (const d of decisions) {
      lastDecision = d;
      if (d.action === 'ban') enforcer.submit(d, received);
      else if (d.action === 'alert') {
        logAlert(log, d);
        notifier.notify(decisionAlert(d));
        persister.write(`alert ${d.reason}`, () => store.audit({ time: d.time, action: `alert:${d.reason}`, target: d.target?.text ?? '-', detail: { severity: d.severity, text: d.text, evidence: d.evidence ?? null } }));
      }
      else persister.write(`trust ${d.target.text}`, () => store.setTrust(d.target.text, d.until, d.account));
    }
  });
  ami.on('malformed', (kind, detail) => pipeline.problems.report(kind, detail));
  // The admins hear when a working AMI connection goes, and when it is back; not about the
  // retries while Asterisk is still starting.
  let amiLost = false;
  let connectedOnce = false;
  ami.on('connected', (banner) => {
    connectedOnce = true;
    log.info({ host: amiOptions.host, port: amiOptions.port, banner, settings_from: amiOptions.source }, 'AMI connected, receiving security events');
    if (amiLost) notifier.notify(systemAlert('ami-restored', Date.now(), `AMI connection to ${amiOptions.host}:${amiOptions.port} restored`));
    amiLost = false;
  });
  ami.on('disconnected', (reason, retryInMs) => {
    log.warn({ reason, retry_in_ms: retryInMs }, 'AMI connection lost; reconnecting');
    if (!connectedOnce || amiLost) return;
    notifier.notify(systemAlert('ami-lost', Date.now(), `AMI connection to ${amiOptions.host}:${amiOptions.port} lost (${reason}): no security events until it is back`));
    amiLost = true;
  });
  ami.on('authFailed', (error) => log.error({ code: error.code }, error.message));

  const control = new ControlServer(
    config.control.socket,
    adminHandler({ store, policy, scoreboard, driver, enforcer, pipeline, ami, configAllow: () => current.policy.allow, now: Date.now, log, lastDecision: () => lastDecision, eventsPerSecond: () => rate }),
    log,
  );
  let metricsServer: Server | undefined;
  if (config.metrics.enabled) {
    // Loaded only when enabled (off by default): prom-client costs ~14 MB of resident memory.
    const { Metrics } = await import('./metrics/metrics.js');
    metrics = new Metrics({
      eventsByKind: () => pipeline.eventsByKind,
      outcomes: () => policy.outcomes,
      skippedInput: () => pipeline.problems.counts,
      activeBans: () => store.countActive(Date.now()),
      bansByReason: () => bansByReason,
      amiConnected: () => ami.connected,
      amiReconnects: () => ami.stats.reconnects,
      firewallErrors: () => enforcer.stats.firewallErrors,
      conntrackErrors: () => enforcer.stats.conntrackErrors,
      alerts: () => notifier.stats,
    });
  }
  const release = async () => {
    metricsServer?.close();
    await Promise.race([notifier.flush(), new Promise((r) => setTimeout(r, 5000).unref())]);
    await control.close();
    clearInterval(rateTimer);
    persister.flush();
    persister.stop();
    driver.close();
    store.close();
  };
  try {
    await control.listen();
    if (metrics) {
      metricsServer = await metrics.serve('127.0.0.1', config.metrics.port);
      log.info({ url: `http://127.0.0.1:${config.metrics.port}/metrics` }, 'Prometheus metrics served');
    }
    await ami.start();
  } catch (e) {
    await release();
    throw e;
  }
  return {
    ami,
    enforcer,
    pipeline,
    store,
    async stop() {
      await ami.stop();
      await enforcer.drain();
      enforcer.stop();
      await release();
    },
    async reload(next) {
      const { applied, needRestart } = reloadable(current, next);
      policy.reconfigure(policyConfig(applied, neverBan), store.allowed());
      scoreboard.reconfigure(scoringConfig(applied));
      notifier.setChannels(buildChannels(applied));
      current = applied;
      await driver.setAllowed([...applied.policy.allow, ...store.allowed()]);
      return needRestart;
    },
  };
}
