// The composition root: the only file that knows every stage and wires them together.
import type { Server } from 'node:http';
import path from 'node:path';
import type { Logger } from 'pino';
import { randomBytes } from 'node:crypto';
import { Canary } from './ami/canary.js';
import { AmiClient } from './ami/client.js';
import { callRightsProblems } from './ami/manager-conf.js';
import { readIdentifiedAddresses } from './ami/pjsip-identify.js';
import { resolveAmiOptions } from './ami/settings.js';
import { buildHangup } from './ari/build-hangup.js';
import { wireFleet } from './fleet/wire-fleet.js';
import type { Config } from './config/schema.js';
import { Guard, guardHandler } from './control/guard.js';
import { ControlServer } from './control/server.js';
import { buildCore, fraudConfig, ledgerConfig, policyConfig, rangeScoringConfig, scoringConfig } from './core.js';
import { BLOCK_FAMILY, cutFraudulentCalls } from './effects/cut-fraudulent-calls.js';
import { decisionBus } from './effects/bus.js';
import { hangUpCalls } from './effects/hang-up-calls.js';
import { logDecisions } from './effects/log-decisions.js';
import { countBans, observeLatency } from './effects/metrics.js';
import { recordInStore } from './effects/record-in-store.js';
import { sendAlerts } from './effects/send-alerts.js';
import { buildDriver } from './enforce/build-driver.js';
import { processRunner } from './enforce/command-runner.js';
import { Enforcer } from './enforce/enforcer.js';
import { TableWatch } from './enforce/table-watch.js';
import { parseIpAddress } from './net/ip-prefix.js';
import { buildChannels } from './notify/build-channels.js';
import { Notifier } from './notify/notifier.js';
import type { Decision } from './policy/decision.js';
import { Persister } from './store/persister.js';
import { StoreKeeper } from './store/store-keeper.js';
import { Store, type StoredBan } from './store/store.js';
import type { Clock } from './time/clock.js';
import { systemClock } from './time/clock.js';

// Sections a reload cannot change without dropping the AMI connection, the socket, the store
// or the firewall session; with detect.max_sources (it sized the scoreboard): restart only.
const RESTART_SECTIONS = ['ami', 'store', 'control', 'firewall', 'metrics', 'ari', 'fleet'] as const;

/** `next` with what only a restart changes kept as it runs, and the names of what differed. */
function reloadable(running: Config, next: Config): { applied: Config; needRestart: string[] } {
  const needRestart: string[] = RESTART_SECTIONS.filter((k) => JSON.stringify(running[k]) !== JSON.stringify(next[k]));
  if (running.detect.max_sources !== next.detect.max_sources) needRestart.push('detect.max_sources');
  // Turning the toll-fraud guard on or off changes the AMI login's event classes.
  if ((running.fraud === undefined) !== (next.fraud === undefined)) needRestart.push('fraud');
  const kept = Object.fromEntries(RESTART_SECTIONS.map((k) => [k, running[k]])) as Pick<Config, (typeof RESTART_SECTIONS)[number]>;
  return { applied: Object.freeze({ ...next, ...kept, detect: { ...next.detect, max_sources: running.detect.max_sources } }), needRestart };
}

export interface RunningService {
  readonly guard: Guard;
  /** Stop reading, finish kernel updates in flight; bans stay in the kernel. */
  stop(): Promise<void>;
  /**
   * Applies a reloaded config (SIGHUP): thresholds, ladder, allow-list, decoys, trust, alert
   * channels. Bans, scores and the AMI connection stay. Returns the keys that changed but
   * need a restart (they keep their old values).
   */
  reload(config: Config): Promise<string[]>;
}

export interface StartOptions {
  /** Fired before the first AMI login: the start unwinds and resolves undefined. */
  readonly stopping?: AbortSignal;
  /**
   * What the daemon is doing, for the service manager: first once the kernel is reconciled and
   * the admin socket listens (it protects the PBX from then on, Asterisk up or not), then as the
   * AMI connection comes and goes.
   */
  readonly onStatus?: (text: string) => void;
}

/**
 * Starts the daemon. Rejects when Asterisk refuses the login or manager.conf is unusable;
 * undefined when `stopping` fired before the first login (everything started is released).
 */
export async function startService(config: Config, daemonLog: Logger, clock: Clock = systemClock, o: StartOptions = {}): Promise<RunningService | undefined> {
  const { stopping, onStatus = () => {} } = o;
  // In a fleet every log line names the node (the journal of 50 PBXs read in one place).
  const log = config.fleet ? daemonLog.child({ node: config.fleet.node }) : daemonLog;
  const amiOptions = resolveAmiOptions(config);
  const store = Store.open(config.store.path);
  const amiHost = parseIpAddress(amiOptions.host);
  const bus = decisionBus();
  const enforcer = new Enforcer(buildDriver(config, log), bus, log, { clock, retryBaseMs: config.firewall.retry_base, retryMaxMs: config.firewall.retry_max, conntrackAttempts: 3 });
  const { pipeline, policy, scoreboard, ledger, fraud } = buildCore(config, log, {
    useEventTime: false,
    neverBan: amiHost.ok ? [amiHost.value] : [],
    sink: enforcer,
    onFull(inForce, time) {
      const p = config.policy;
      const text = `${inForce} bans in force: policy.max_bans (${p.max_bans}) reached; new bans are ${p.at_max_bans === 'widen' ? `widened to their /${p.subnet.ipv4_prefix} or /${p.subnet.ipv6_prefix} while room is left, then refused` : 'refused'} until bans end. A distributed attack, or raise policy.max_bans`;
      log.error({ in_force: inForce }, text);
      bus.emit('trouble', { kind: 'ban-cap-reached', time, text });
    },
  });
  let current = config;
  // Trunks Asterisk identifies by address have no password to guess; a forged packet "from" one
  // must not cut it off. Their calls are inbound: the toll-fraud guard leaves them alone.
  const applyIdentified = (c: Config) => {
    let found: ReturnType<typeof readIdentifiedAddresses> = { addresses: [], hostnames: [], endpoints: [] };
    try {
      if (c.policy.spare_identified || fraud) found = readIdentifiedAddresses(path.dirname(c.ami.manager_conf));
    } catch (e) {
      log.warn({ err: e }, 'pjsip.conf could not be read: no trunk is spared by its identify address (policy.spare_identified), nor left out of the toll-fraud guard');
    }
    const { hostnames, endpoints } = found;
    const addresses = c.policy.spare_identified ? found.addresses : [];
    policy.neverBan.setIdentified(addresses);
    if (fraud) {
      fraud.setTrunks(endpoints);
      if (endpoints.length > 0) log.info({ endpoints }, 'toll-fraud guard: calls of the endpoints pjsip.conf identifies by address (trunks) are not judged');
    }
    if (addresses.length > 0) log.info({ addresses: addresses.map((a) => `${a.prefix.text} ${a.section}`) }, 'never banned: addresses pjsip.conf identifies trunks by');
    if (hostnames.length > 0) log.warn({ hostnames }, 'pjsip.conf identifies some endpoints by host name: those are not spared');
  };

  // The effects: each one subscriber of the decision bus. A fraudulent call is cut first.
  // Made now, started last (once the kernel is reconciled): a judged call is hung up through it.
  const ami = new AmiClient({ ...amiOptions, clock, events: fraud ? 'security,call' : 'security' });
  const cutter = fraud ? cutFraudulentCalls(bus, (name, fields, ms) => ami.send(name, fields, ms), log, clock) : undefined;
  if (fraud) {
    // The guard would watch nothing, or cut nothing, and say so only when fraud happens.
    const missing = amiOptions.source === 'config' ? [] : callRightsProblems(config.ami.manager_conf, amiOptions.username);
    for (const text of missing) log.error({ manager_conf: config.ami.manager_conf }, `toll-fraud guard: ${text}; turn on the ;toll-fraud lines of asterisk-conf/manager.d/asterisk-guard.conf (docs/fraud.md), then \`manager reload\``);
  }
  const notifier = new Notifier(buildChannels(config), log, { digestIntervalMs: config.alerts.digest_interval, retryDelaysMs: config.alerts.retries, clock, node: config.fleet?.node });
  const keeper = new StoreKeeper(store, {
    now: () => clock.now(),
    snapshot: () => {
      const now = clock.now();
      return { bans: [...ledger.bans(now)].map((b) => ({ ...b, evidence: null })), trust: policy.trust.entries(now) };
    },
    onRecreated(text) {
      log.error(text);
      bus.emit('trouble', { kind: 'store-recreated', time: clock.now(), text });
    },
  });
  const persister = new Persister(log, {
    clock,
    retryBaseMs: 500,
    retryMaxMs: 60_000,
    onFailing: (e) => bus.emit('trouble', { kind: 'store-failing', time: clock.now(), text: `state database ${config.store.path} refuses writes: ${(e as Error).message}` }),
    atomically: (writes) => store.transaction(writes),
    beforeBatch: () => keeper.check(),
    recover: (e) => keeper.recover(e),
  });
  recordInStore(bus, store, persister);
  sendAlerts(bus, notifier);
  logDecisions(bus, log);
  const bansByReason = countBans(bus);
  const hangup = buildHangup(config, log);
  if (hangup) {
    hangUpCalls(bus, hangup, log);
    hangup.check().then(
      () => log.info('ARI answers: live calls of banned sources will be hung up'),
      (e: unknown) => log.warn({ err: e }, `ARI does not answer yet (tried again at each ban): ${(e as Error).message}`),
    );
  } else if (config.alerts.channels.some((c) => c.type === 'webhook')) {
    // Node loads its HTTP client at the first fetch: 17-50 ms of a blocked event loop at the
    // first alert, in the middle of an attack. Made now (no request is sent).
    new Request('http://localhost/');
  }

  // Restart: the store is the truth; the ledger takes it back and the kernel is made to match
  // it in one transaction. A store created by this start next to a kernel that holds bans went
  // missing (or was moved aside): the kernel's bans are evidence too, and are kept.
  const now = clock.now();
  const prepared = await enforcer.prepare();
  let active = store.activeBans(now);
  if (prepared && store.created) {
    const kept = await keepKernelBans(store, enforcer, now);
    if (kept.length > 0) {
      const text = `the state database ${config.store.path} is new, but the kernel's table holds ${kept.length} bans: they are kept (reason "kept from the kernel") and recorded in the new store. If the old store was lost, its history and audit are gone; restore a backup to get them back`;
      log.warn({ bans: kept.length }, text);
      bus.emit('trouble', { kind: 'kernel-bans-kept', time: now, text });
      active = kept;
    }
  }
  ledger.restore(active, store.banHistory(now - config.policy.lookback));
  policy.trust.restore(store.trusted(now));
  if (fraud) {
    const { baselines, damaged } = store.baselines();
    if (damaged.length > 0) log.warn({ endpoints: damaged }, 'toll-fraud baselines damaged in the store: those endpoints learn again');
    fraud.restore(baselines, store.fraudBlocks());
  }
  applyIdentified(config);
  for (const p of store.allowed()) policy.neverBan.allow(p);
  if (prepared) {
    const started = clock.monotonic();
    enforcer.reconcile(active.map((b) => ({ prefix: b.prefix, until: b.until })));
    enforcer.setAllowed([...config.policy.allow, ...store.allowed()]);
    await enforcer.drain({ flushes: false });
    log.info({ bans: active.length, ms: Math.round(clock.monotonic() - started) }, 'kernel bans reconciled with the store');
  }

  // Someone else's `nft flush ruleset` (a firewall reload) must not leave the PBX open.
  const watch =
    config.firewall.driver === 'nftables'
      ? new TableWatch(
          {
            runner: processRunner(),
            table: config.firewall.table,
            clock,
            checkIntervalMs: config.firewall.check_interval,
            inspect: () => enforcer.inspect(),
            onTampered: async (what) => {
              const started = clock.monotonic();
              const bans = [...ledger.bans(clock.now())].map((b) => ({ prefix: b.prefix, until: b.until }));
              await enforcer.rebuild(bans, [...current.policy.allow, ...store.allowed()]);
              const ms = Math.round(clock.monotonic() - started);
              const text = `nft table inet ${config.firewall.table} changed by something else (${what}); restored ${bans.length} bans in ${ms} ms`;
              log.warn({ missing: what, bans: bans.length, ms }, text);
              bus.emit('trouble', { kind: 'table-restored', time: clock.now(), text });
            },
          },
          log,
        )
      : undefined;

  let lastDecision: Decision | undefined;
  // Every 5 s and at stop: calls whose Hangup never came are dropped, and what the endpoints'
  // calls taught goes to the store (not at each call).
  const tendFraud = () => {
    if (!fraud) return;
    const now = clock.now();
    fraud.tick(now);
    const changed = fraud.takeChanged();
    if (changed.size > 0) persister.write(`fraud baselines (${changed.size})`, () => store.saveBaselines(changed, now));
  };
  let events = 0;
  let rate = 0;
  // Every 5 s: the event rate, and what time alone decides (a siege that went quiet ends).
  const rateTimer = setInterval(() => {
    rate = events / 5;
    events = 0;
    for (const d of policy.tick(clock.now())) {
      lastDecision = d;
      if (d.action === 'alert') bus.emit('alert', d);
    }
    tendFraud();
  }, 5000);
  rateTimer.unref();

  const canary = config.canary.enabled
    ? new Canary({
        clock,
        intervalMs: config.canary.interval,
        timeoutMs: config.canary.timeout,
        async provoke(account) {
          // A login Asterisk refuses: it reports it as a security event (InvalidAccountID).
          const probe = new AmiClient({ ...amiOptions, username: account, secret: randomBytes(12).toString('hex'), clock, reconnectBaseMs: 3_600_000, reconnectMaxMs: 3_600_000 });
          // A silent peer must not keep the probe (and its retries) alive past the canary's wait.
          await Promise.race([probe.start(), clock.sleep(config.canary.timeout)]).catch(() => {});
          await probe.stop();
        },
        onMissing(account) {
          const text = `blind: no security event from Asterisk for the canary AMI login as ${account} within ${config.canary.timeout / 1000} s, though AMI is connected. Check that [${amiOptions.username}] in ${amiOptions.source} still has \`read = security\` (then \`manager reload\`), that no eventfilter drops InvalidAccountID, and \`asterisk -rx "manager show user ${amiOptions.username}"\``;
          log.error({ canary: account }, text);
          bus.emit('trouble', { kind: 'canary-missing', time: clock.now(), text });
        },
        onRestored() {
          const text = 'security events arrive again: the canary AMI login was reported';
          log.info(text);
          bus.emit('trouble', { kind: 'canary-restored', time: clock.now(), text });
        },
      })
    : undefined;
  ami.on('event', (fields, arrival) => {
    events++;
    // The canary's own echo: proof of sight, never scored (asked only while one is awaited).
    if (canary?.awaiting && canary.echo(fields.get('AccountID'))) return;
    // The ledger hands bans to the enforcer as the policy decides them; alerts and trust go
    // out here.
    const decisions = pipeline.ingest(fields, arrival);
    if (!decisions) return;
    for (const d of decisions) {
      if (d.action === 'fraud') {
        bus.emit('fraud', d);
        continue;
      }
      lastDecision = d;
      if (d.action === 'alert') bus.emit('alert', d);
      else if (d.action === 'trust') bus.emit('trust', d);
    }
  });
  ami.on('malformed', (kind, detail) => pipeline.problems.report(kind, detail));
  // The admins hear when a working AMI connection goes, and when it is back; not about the
  // retries while Asterisk is still starting.
  let amiLost = false;
  let connectedOnce = false;
  ami.on('connected', (banner) => {
    connectedOnce = true;
    // Hangups sent while the connection was down are lost: the calls it counted up are not known.
    // And the blocks go into the AstDB again (one decided while it was down never got there).
    fraud?.forgetCalls();
    if (fraud) cutter?.reassert(fraud.blockList());
    log.info({ host: amiOptions.host, port: amiOptions.port, banner, settings_from: amiOptions.source }, 'AMI connected, receiving security events');
    onStatus('receiving AMI security events');
    if (amiLost) bus.emit('trouble', { kind: 'ami-restored', time: clock.now(), text: `AMI connection to ${amiOptions.host}:${amiOptions.port} restored` });
    amiLost = false;
  });
  ami.on('disconnected', (reason, retryInMs) => {
    log.warn({ reason, retry_in_ms: retryInMs }, 'AMI connection lost; reconnecting');
    onStatus(`${connectedOnce ? 'AMI connection lost' : 'waiting for the first AMI login'} (${reason}); bans in the kernel hold, reconnecting`);
    if (!connectedOnce || amiLost) return;
    bus.emit('trouble', { kind: 'ami-lost', time: clock.now(), text: `AMI connection to ${amiOptions.host}:${amiOptions.port} lost (${reason}): no security events until it is back` });
    amiLost = true;
  });
  ami.on('authFailed', (error) => log.error({ code: error.code }, error.message));

  // After the restore: other nodes' bans go into a ledger that holds this node's own.
  const fleet = config.fleet ? wireFleet(config, { ledger, policy, scoreboard, store, bus, clock, log }) : undefined;
  const guard = new Guard({ ledger, policy, scoreboard, enforcer, store, pipeline, clock, ami, watch, canary, fleet: fleet && config.fleet ? { node: config.fleet.node, link: fleet.link, unbanEverywhere: fleet.unbanEverywhere } : undefined, tollFraud: fraud ? { guard: fraud, unblockInAsterisk: (endpoint) => unblockInAsterisk(ami, endpoint) } : undefined, configAllow: () => current.policy.allow, lastDecision: () => lastDecision, eventsPerSecond: () => rate, storeWrites: () => ({ failing: persister.failing, pending: persister.pending }) });
  const control = new ControlServer(config.control.socket, guardHandler(guard), log);
  let metricsServer: Server | undefined;
  let serveMetrics: (() => Promise<Server>) | undefined;
  if (config.metrics.enabled) {
    // Loaded only when enabled (off by default): prom-client costs ~14 MB of resident memory.
    const { Metrics } = await import('./metrics/metrics.js');
    const metrics = new Metrics({
      eventsByKind: () => pipeline.eventsByKind,
      outcomes: () => policy.outcomes,
      skippedInput: () => pipeline.problems.counts,
      activeBans: () => guard.status({ cmd: 'status' }).active_bans,
      bansByReason: () => bansByReason,
      amiConnected: () => ami.connected,
      amiReconnects: () => ami.stats.reconnects,
      firewallErrors: () => enforcer.stats.firewallErrors,
      conntrackErrors: () => enforcer.stats.conntrackErrors,
      tableRepairs: () => watch?.repairs ?? 0,
      sieges: () => policy.sieges.size,
      canaryOk: () => (canary?.last?.ok === undefined || canary.last.ok === null ? -1 : canary.last.ok ? 1 : 0),
      alerts: () => notifier.stats,
      fleet: fleet ? () => ({ connected: fleet.link.connected, outbox: fleet.link.pending, ...fleet.link.stats }) : undefined,
      fraud: fraud ? () => ({ verdicts: fraud.verdicts, blocked: fraud.blockedCount }) : undefined,
      node: config.fleet?.node,
    });
    observeLatency(bus, metrics);
    serveMetrics = () => metrics.serve('127.0.0.1', config.metrics.port);
  }
  const release = async () => {
    await fleet?.stop();
    canary?.stop();
    watch?.stop();
    metricsServer?.close();
    await Promise.race([notifier.flush(), clock.sleep(5000)]);
    await control.close();
    clearInterval(rateTimer);
    tendFraud();
    persister.flush();
    persister.stop();
    enforcer.stop();
    store.close();
  };
  try {
    await control.listen();
    if (serveMetrics) {
      metricsServer = await serveMetrics();
      log.info({ url: `http://127.0.0.1:${config.metrics.port}/metrics` }, 'Prometheus metrics served');
    }
    watch?.start();
    onStatus(`waiting for the first AMI login to ${amiOptions.host}:${amiOptions.port}; bans in the kernel hold`);
    const abandon = () => void ami.stop();
    stopping?.addEventListener('abort', abandon);
    await ami.start();
    stopping?.removeEventListener('abort', abandon);
    if (stopping?.aborted) {
      await release();
      return undefined;
    }
    canary?.start();
  } catch (e) {
    await release();
    throw e;
  }
  return {
    guard,
    async stop() {
      await ami.stop();
      await enforcer.finish(2000);
      await release();
    },
    async reload(next) {
      const { applied, needRestart } = reloadable(current, next);
      policy.reconfigure(policyConfig(applied));
      policy.neverBan.setAllowList([...applied.policy.allow, ...store.allowed()]);
      applyIdentified(applied);
      ledger.reconfigure(ledgerConfig(applied));
      scoreboard.reconfigure(scoringConfig(applied));
      const fc = fraudConfig(applied);
      if (fraud && fc) fraud.reconfigure(fc);
      policy.ranges.reconfigure(rangeScoringConfig(applied));
      notifier.setChannels(buildChannels(applied));
      current = applied;
      await guard.syncAllowed();
      return needRestart;
    },
  };
}

/** Deletes the AstDB key of a block (what the dialplan snippet checks); says what happened. */
async function unblockInAsterisk(ami: AmiClient, endpoint: string): Promise<string> {
  const key = `${BLOCK_FAMILY}/${endpoint}`;
  try {
    const r = await ami.send('DBDel', { Family: BLOCK_FAMILY, Key: endpoint }, 2000);
    if (r.Response === 'Success') return `AstDB key ${key} deleted`;
    return `Asterisk did not delete AstDB key ${key} (${r.Message ?? 'no reason given'}); if it is there, run: asterisk -rx "database del ${BLOCK_FAMILY} ${endpoint}"`;
  } catch (e) {
    return `AstDB key ${key} not deleted (${(e as Error).message}); run: asterisk -rx "database del ${BLOCK_FAMILY} ${endpoint}"`;
  }
}

/** The kernel's bans as store records (a new store beside a kernel that holds bans keeps them). */
async function keepKernelBans(store: Store, enforcer: Enforcer, now: number): Promise<StoredBan[]> {
  const bans = (await enforcer.kernelBans(now)).map((b): StoredBan => ({ prefix: b.prefix, since: now, until: b.until, reason: 'kept from the kernel', origin: 'import', step: 0, evidence: null }));
  if (bans.length > 0) store.recordBans(bans);
  return bans;
}
