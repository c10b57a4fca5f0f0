import path from 'node:path';
import type { FieldReader } from '../events/fields.js';
import { readIdentifiedAddresses } from '../ami/pjsip-identify.js';
import type { Config } from '../config/schema.js';
import { ledgerConfig, policyConfig, rangeScoringConfig, scoringConfig, type Core } from '../core.js';
import type { Decision } from '../policy/decision.js';
import type { Store } from '../store/store.js';
import type { Clock } from '../time/clock.js';
import { changedKeys, type DaemonContext, type MetricFamily, type Part } from './part.js';

/** How often the event rate is taken and time alone decides (a siege that went quiet ends). */
const TICK_MS = 5000;

/** The pure core at work in the daemon: what every source feeds, and what it decided last. */
export interface PolicyPart extends Part {
  /** One event from any source (AMI, a log line): scored, decided, its alerts and trust on the bus. */
  ingest(fields: FieldReader, arrival: number): void;
}

export function policyPart(ctx: DaemonContext, store: Store): PolicyPart {
  const { log, clock, bus, core } = ctx;
  const { pipeline, policy, ledger, scoreboard } = core;
  let lastDecision: Decision | undefined;
  let events = 0;
  let rate = 0;
  let timer: NodeJS.Timeout | undefined;
  const byReason = bansByReason(ctx);
  // Trunks Asterisk identifies by address have no password to guess: a forged packet "from"
  // one must not cut it off.
  const spareIdentified = (c: Config) => {
    let found: ReturnType<typeof readIdentifiedAddresses> = { addresses: [], hostnames: [], endpoints: [] };
    try {
      if (c.policy.spare_identified) found = readIdentifiedAddresses(path.dirname(c.ami.manager_conf));
    } catch (e) {
      log.warn({ err: e }, 'pjsip.conf could not be read: no trunk is spared by its identify address (policy.spare_identified)');
    }
    policy.neverBan.setIdentified(found.addresses);
    if (found.addresses.length > 0) log.info({ addresses: found.addresses.map((a) => `${a.prefix.text} ${a.section}`) }, 'never banned: addresses pjsip.conf identifies trunks by');
    if (found.hostnames.length > 0) log.warn({ hostnames: found.hostnames }, 'pjsip.conf identifies some endpoints by host name: those are not spared');
  };
  return {
    name: 'policy',
    ingest(fields, arrival) {
      events++;
      // The ledger hands bans to the enforcer as the policy decides them; alerts and trust go out here.
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
    },
    async start() {
      policy.trust.restore(store.trusted(clock.now()));
      spareIdentified(ctx.config());
      for (const p of store.allowed()) policy.neverBan.allow(p);
      timer = setInterval(() => {
        rate = events / (TICK_MS / 1000);
        events = 0;
        for (const d of policy.tick(clock.now())) {
          lastDecision = d;
          if (d.action === 'alert') bus.emit('alert', d);
        }
      }, TICK_MS);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
    },
    // The scoreboard is sized once, at start.
    restartOnly: (running, next) => changedKeys(running, next, ['detect.max_sources']),
    reload(c) {
      policy.reconfigure(policyConfig(c));
      policy.neverBan.setAllowList([...c.policy.allow, ...store.allowed()]);
      spareIdentified(c);
      ledger.reconfigure(ledgerConfig(c));
      scoreboard.reconfigure(scoringConfig(c));
      policy.ranges.reconfigure(rangeScoringConfig(c));
    },
    status: () => ({ events_per_second: rate, ...coreStatus(core, clock), last_decision: lastDecisionStatus(lastDecision) }),
    metrics: () => coreMetrics(core, byReason, () => clock.now()),
  };
}

const iso = (t: number) => new Date(t).toISOString();

/** The core's part of `status`. */
export function coreStatus(core: Core, clock: Clock) {
  return {
    active_bans: core.ledger.count(clock.now()),
    tracked_sources: core.scoreboard.size,
    sieges: core.policy.sieges.active.map((x) => ({ account: x.account, since: iso(x.since), sources: x.sources, banned: x.banned, guesses: x.guesses })),
    skipped_input: Object.fromEntries(core.pipeline.problems.counts),
  };
}

function lastDecisionStatus(d: Decision | undefined) {
  return d ? { action: d.action, target: d.target?.text ?? null, time: iso(d.time), ...('reason' in d ? { reason: d.reason } : {}) } : null;
}

/** Bans committed so far, by reason: a plain map the metrics read when scraped. */
function bansByReason({ bus }: DaemonContext): ReadonlyMap<string, number> {
  const byReason = new Map<string, number>();
  bus.on('committed', (d) => byReason.set(d.reason, (byReason.get(d.reason) ?? 0) + 1));
  return byReason;
}

export function coreMetrics(core: Core, bansByReason: ReadonlyMap<string, number>, now: () => number): MetricFamily[] {
  const { pipeline, policy, ledger } = core;
  return [
    {
      name: 'asterisk_guard_security_events_total',
      help: 'Security events received from Asterisk, by kind and service',
      type: 'counter',
      labels: ['kind', 'service'],
      read: () => [...pipeline.eventsByKind].map(([key, n]) => {
        const [service, kind] = key.split('/');
        return [{ service: service!, kind: kind! }, n] as const;
      }),
    },
    { name: 'asterisk_guard_decisions_total', help: 'What the policy made of each security event', type: 'counter', labels: ['outcome'], read: () => Object.entries(policy.outcomes).map(([outcome, n]) => [{ outcome }, n] as const) },
    { name: 'asterisk_guard_input_skipped_total', help: 'Malformed or unusable AMI input, skipped, by kind', type: 'counter', labels: ['kind'], read: () => [...pipeline.problems.counts].map(([kind, n]) => [{ kind }, n] as const) },
    { name: 'asterisk_guard_active_bans', help: 'Bans in force', type: 'gauge', read: () => ledger.count(now()) },
    { name: 'asterisk_guard_bans_total', help: 'Bans put in the kernel, by reason', type: 'counter', labels: ['reason'], read: () => [...bansByReason].map(([reason, n]) => [{ reason }, n] as const) },
    { name: 'asterisk_guard_sieges_active', help: 'Accounts under siege: failing from many sources, every further source banned at its first failure', type: 'gauge', read: () => policy.sieges.size },
  ];
}
