// The composition root: the daemon as the ordered list of parts its config asks for
// (src/parts, docs/architecture.md). Each part owns what it opens; this file only orders them.
import type { Logger } from 'pino';
import { resolveAmiOptions } from './ami/settings.js';
import type { Config } from './config/schema.js';
import type { Guard } from './control/guard.js';
import { buildCore } from './core.js';
import { decisionBus } from './effects/bus.js';
import { parseIpAddress } from './net/ip-prefix.js';
import { alertsPart } from './parts/alerts-part.js';
import { amiPart } from './parts/ami-part.js';
import { ariPart } from './parts/ari-part.js';
import { asteriskLogPart } from './parts/asterisk-log-part.js';
import { abuseReportPart } from './parts/abuse-report-part.js';
import { bouncerApiPart } from './parts/bouncer-api-part.js';
import { controlPart } from './parts/control-part.js';
import { fleetPart } from './parts/fleet-part.js';
import { redisFeedShare } from './fleet/feed-share.js';
import { feedsPart } from './parts/feeds-part.js';
import { fraudPart } from './parts/fraud-part.js';
import { buildEnforcer, kernelPart } from './parts/kernel-part.js';
import { memoryPart } from './parts/memory-part.js';
import { metricsPart } from './parts/metrics-part.js';
import { offPart, reloadParts, startParts, statusOf, stopParts, type DaemonContext, type Part } from './parts/part.js';
import { policyPart } from './parts/policy-part.js';
import { storePart } from './parts/store-part.js';
import { webPart } from './parts/web-part.js';
import type { Clock } from './time/clock.js';
import { systemClock } from './time/clock.js';

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
  // In a fleet every log line names the node (the journal of 50 PBXs read in one place).
  const log = config.fleet ? daemonLog.child({ node: config.fleet.node }) : daemonLog;
  let current = config;
  const bus = decisionBus();
  const amiOptions = resolveAmiOptions(config);
  const amiHost = parseIpAddress(amiOptions.host);
  const enforcer = buildEnforcer({ log, clock, bus, config: () => current });
  const core = buildCore(config, log, {
    useEventTime: false,
    neverBan: amiHost.ok ? [amiHost.value] : [],
    sink: enforcer,
    onFull(inForce, time) {
      const p = current.policy;
      const text = `${inForce} bans in force: policy.max_bans (${p.max_bans}) reached; new bans are ${p.at_max_bans === 'widen' ? `widened to their /${p.subnet.ipv4_prefix} or /${p.subnet.ipv6_prefix} while room is left, then refused` : 'refused'} until bans end. A distributed attack, or raise policy.max_bans`;
      log.error({ in_force: inForce }, text);
      bus.emit('trouble', { kind: 'ban-cap-reached', time, text });
    },
  });
  const ctx: DaemonContext = { log, clock, bus, core, config: () => current };

  // Built in the order their bus subscriptions must run (a fraudulent call is cut first), listed
  // in the order they start: the store, then what reads it, the kernel reconciled and the admin
  // socket listening before any source. They stop in reverse.
  const store = storePart(ctx);
  const policy = policyPart(ctx, store.store);
  const ami = amiPart(ctx, amiOptions, policy, { stopping: o.stopping, onStatus: o.onStatus ?? (() => {}) });
  const fraud = core.fraud ? fraudPart(ctx, core.fraud, ami.client, amiOptions, store) : undefined;
  const kernel = kernelPart(ctx, enforcer, store);
  const fleet = config.fleet ? fleetPart(ctx, store.store) : undefined;
  const feeds = config.feeds.length > 0 ? feedsPart(ctx, store, { setListed: (p) => kernel.setListed(p), ...(config.fleet ? { share: redisFeedShare(config.fleet) } : {}) }) : undefined;
  // The page calls the admin facade; the facade mints the page's login URLs.
  const web = config.web.enabled ? webPart(ctx, () => control.guard) : undefined;
  const control = controlPart(ctx, {
    enforcer,
    store: store.store,
    status: () => statusOf(parts),
    syncAllowed: () => kernel.syncAllowed(current),
    storeWrites: () => store.persister,
    fleet,
    listedBy: feeds?.listedBy,
    tollFraud: core.fraud && fraud ? { guard: core.fraud, unblockInAsterisk: fraud.unblockInAsterisk } : undefined,
    webLogin: web?.loginUrl,
  });
  const parts: readonly Part[] = [
    store,
    policy,
    fraud ?? offPart('fraud', ['fraud']),
    alertsPart(ctx),
    ariPart(ctx),
    kernel,
    memoryPart(ctx),
    control,
    fleet ?? offPart('fleet', ['fleet']),
    feeds ?? offPart('feeds', ['feeds']),
    config.bouncer_api ? bouncerApiPart(ctx) : offPart('bouncer_api', ['bouncer_api']),
    config.abuseipdb ? abuseReportPart(ctx, store) : offPart('abuseipdb', ['abuseipdb']),
    web ?? offPart('web', ['web']),
    metricsPart(ctx, () => parts.flatMap((p) => p.metrics?.() ?? [])),
    config.asterisk_log ? asteriskLogPart(ctx, store, policy, ami) : offPart('asterisk_log', ['asterisk_log']),
    ami,
  ];

  if ((await startParts(parts, o.stopping)) === 'abandoned') return undefined;
  return {
    guard: control.guard,
    stop: () => stopParts(parts),
    async reload(next) {
      const { applied, needRestart } = await reloadParts(parts, current, next);
      current = applied;
      return needRestart;
    },
  };
}
