import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { DecisionBus } from '../effects/bus.js';
import type { ActiveBan, BanLedger } from '../ledger/ban-ledger.js';
import type { BanOrigin } from '../policy/decision.js';
import type { IpPrefix } from '../net/ip-prefix.js';
import type { Clock } from '../time/clock.js';
import type { Scoreboard } from '../detect/scoreboard.js';
import type { Policy } from '../policy/policy.js';
import { FleetLink, type FleetLinkOptions, type FleetTrouble } from './fleet-link.js';
import { FleetScores } from './fleet-scores.js';
import { redisClientOptions } from './redis-options.js';

/** Refused entries logged one by one; past this many, only counted (Redis may be hostile). */
const REFUSALS_LOGGED = 20;
/** Refused unbans alerted one by one; past this many, only counted (a hostile node may send thousands). */
const UNBAN_REFUSALS_ALERTED = 5;
/** One alert per kind of fleet trouble in this long at most (a hostile node may repeat it every second). */
const TROUBLE_QUIET_MS = 600_000;
const TROUBLE_ALERT: Readonly<Record<FleetTrouble, 'fleet-tampered' | 'fleet-twin' | 'fleet-write-refused'>> = { tampered: 'fleet-tampered', twin: 'fleet-twin', 'write-refused': 'fleet-write-refused' };

/**
 * What another node's unban may lift here: what came from the fleet, and this node's own policy
 * bans (an admin freeing an address everywhere). An admin's `ban` and an import were decided by
 * a person for this node: any node of the fleet holds the fleet's password, so one compromised
 * PBX could otherwise lift them on every node.
 */
const LIFTED_BY_THE_FLEET: ReadonlySet<BanOrigin> = new Set(['fleet', 'auto']);

/**
 * Fleet mode: this node's bans go to Redis once they are in its kernel; the other nodes' come
 * back through the ban ledger as one more ban source (origin `fleet`, the deciding node in the
 * note), so the never-ban lists, the widest ban and the longest ban apply to them as to any.
 */
export function wireFleet(config: Config, d: { ledger: BanLedger; policy: Policy; scoreboard: Scoreboard; store: FleetLinkOptions['outbox']; bus: DecisionBus; clock: Clock; log: Logger }): { link: FleetLink; scores: FleetScores; readonly unbansRefused: number; readonly notApplied: number; readonly troubles: Readonly<Record<FleetTrouble, number>>; unbanEverywhere(prefix: IpPrefix): void; stop(): Promise<void> } {
  const fleet = config.fleet!;
  const redis = redisClientOptions(fleet);
  const { ledger, policy, scoreboard, store, bus, clock, log } = d;
  let refusals = 0;
  let unbansRefused = 0;
  let notApplied = 0;
  let lost = false;
  const troubles: Record<FleetTrouble, number> = { tampered: 0, twin: 0, 'write-refused': 0 };
  const lastSaid = new Map<FleetTrouble, number>();
  const refuseUnban = (entry: { node: string; prefix: IpPrefix }, held: ActiveBan) => {
    unbansRefused++;
    const text = `fleet: ${entry.node} asked to lift ${entry.prefix.text}, banned here by ${held.origin === 'cli' ? 'an admin' : 'an import'} (${held.reason}): kept. A fleet unban lifts only fleet and policy bans; if ${entry.node} is not yours, its Redis password is out: change it on every node`;
    if (unbansRefused <= REFUSALS_LOGGED) log.warn({ prefix: entry.prefix.text, node: entry.node, origin: held.origin, refused: unbansRefused }, text);
    if (unbansRefused <= UNBAN_REFUSALS_ALERTED) bus.emit('trouble', { kind: 'fleet-unban-refused', time: clock.now(), text: unbansRefused === UNBAN_REFUSALS_ALERTED ? `${text}. Further refusals are only counted (status: fleet.unbans_refused)` : text });
  };
  const link = new FleetLink(
    {
      redis,
      node: fleet.node,
      widest: { 4: fleet.widest.ipv4, 6: fleet.widest.ipv6 },
      keepMs: fleet.keep,
      clock,
      outbox: store,
      onEntry(entry) {
        const now = clock.now();
        if (entry.op === 'unban') {
          const held = ledger.banOf(entry.prefix, now);
          if (held === undefined) return;
          if (!LIFTED_BY_THE_FLEET.has(held.origin)) return refuseUnban(entry, held);
          ledger.lift(entry.prefix, now, 'fleet');
          log.info({ prefix: entry.prefix.text, node: entry.node, origin: held.origin }, `fleet: ${entry.node} unbanned ${entry.prefix.text}`);
          return;
        }
        if (ledger.bannedUntil(entry.prefix, now) !== undefined) return;
        const r = ledger.request({ target: entry.prefix, time: now, reason: 'fleet', origin: 'fleet', node: entry.node, durationMs: entry.until === null ? null : entry.until - now, note: `${entry.node}: ${entry.reason}` });
        // 100k refusals once made 100k lines (20 MB in 1.3 s): a sample, then a count.
        if (!('refused' in r)) return;
        notApplied++;
        if (notApplied <= REFUSALS_LOGGED) log.info({ prefix: entry.prefix.text, node: entry.node, refused: r.refused, not_applied: notApplied }, `fleet: ${entry.node}'s ban of ${entry.prefix.text} not applied here (${r.refused})${notApplied === REFUSALS_LOGGED ? '; further ones are only counted (status: fleet.not_applied)' : ''}`);
      },
      onRefused(reason) {
        if (++refusals <= REFUSALS_LOGGED) log.warn({ reason, refused: refusals }, `fleet: refused an entry read from Redis: ${reason}`);
      },
      onLink(up, detail) {
        if (up && !lost) {
          log.info({ node: fleet.node }, `fleet: linked to Redis as node ${fleet.node}`);
          return;
        }
        lost = !up;
        const text = up ? `fleet link to Redis ${detail}: bans are shared again (node ${fleet.node})` : `fleet link to Redis lost (${detail}): node ${fleet.node} goes on banning alone and keeps what it decides for later`;
        (up ? log.info.bind(log) : log.warn.bind(log))(text);
        bus.emit('trouble', { kind: up ? 'fleet-restored' : 'fleet-lost', time: clock.now(), text });
      },
      onTrouble(kind, text) {
        troubles[kind]++;
        const now = clock.now();
        const said = lastSaid.get(kind);
        if (said !== undefined && now - said < TROUBLE_QUIET_MS) return;
        lastSaid.set(kind, now);
        const full = `fleet (node ${fleet.node}): ${text}${said === undefined ? '' : `; ${troubles[kind]} times since start (status: fleet.troubles)`}`;
        log.warn({ kind, count: troubles[kind] }, full);
        bus.emit('trouble', { kind: TROUBLE_ALERT[kind], time: now, text: full });
      },
    },
    log,
  );
  bus.on('committed', (decision, until) => {
    if (decision.origin !== 'fleet') link.publish({ op: 'ban', node: fleet.node, prefix: decision.target, until, reason: decision.reason });
  });
  // Failures count fleet-wide: a source spreading its guesses over the PBXs is banned by the
  // node whose failure completes the score, as soon as its total reaches the threshold.
  const scores = new FleetScores(
    {
      redis,
      halfLifeMs: config.detect.half_life,
      threshold: config.detect.threshold,
      onReached(key) {
        const now = clock.now();
        if (ledger.bannedUntil(key, now) !== undefined) return;
        ledger.request({ target: key, time: now, reason: 'brute-force', origin: 'auto', note: 'brute-force, fleet-wide score', evidence: scoreboard.snapshot(key, 'fleet-score') });
      },
    },
    log,
  );
  policy.onUnbannedFailure = (f) => {
    if (!f.trusted) scores.record(f.key, f.range, config.detect.weights[f.event.kind], clock.now());
  };
  link.start();
  scores.start();
  return {
    link,
    scores,
    get unbansRefused() {
      return unbansRefused;
    },
    get notApplied() {
      return notApplied;
    },
    troubles,
    // The admin's (Guard.unban, unless --local); an expiry is each node's own.
    unbanEverywhere: (prefix) => link.publish({ op: 'unban', node: fleet.node, prefix }),
    async stop() {
      policy.onUnbannedFailure = undefined;
      await Promise.all([link.stop(), scores.stop()]);
    },
  };
}
