import type { Evidence, Trigger } from '../detect/evidence.js';
import { scoringKey, type Scoreboard } from '../detect/scoreboard.js';
import { isFailureKind, type Endpoint, type FailureKind, type SecurityEvent } from '../events/security-event.js';
import type { IpPrefix } from '../net/ip-prefix.js';
import type { BanBook } from './ban-book.js';
import type { AlertDecision, BanDecision, BanReason, Decision } from './decision.js';
import type { NeverBan } from './never-ban.js';
import type { PolicyConfig } from './policy-config.js';
import { accountAttack } from './rules/account-attack.js';
import { DecoyAccounts, decoyAuthenticated, tripwire } from './rules/decoys.js';
import { guessedPassword } from './rules/guessed-password.js';
import { mayBanSource, type Decided, type Failure, type FailureRule, type RuleTools, type Success, type SuccessRule } from './rules/rule.js';
import { scoreBan } from './rules/score.js';
import { stalePasswordWarning } from './rules/stale-password.js';
import { subnetBan } from './rules/subnet.js';
import { TrustBook, type RangeLengths } from './trust-book.js';

export type Outcome = 'ban' | 'alert' | 'trust' | 'scored' | 'allowed' | 'already-banned' | 'not-a-failure';

const NONE: readonly Decision[] = Object.freeze([]);

/** A failure's fields, reused for every event: the hot path allocates nothing for it. */
type MutableFailure = { -readonly [K in keyof Failure]: Failure[K] };

/**
 * Turns security events into decisions: the never-ban lists first, then the scoreboard, then
 * the rules in order, each one concern (rules/). Bans are requests to the ban ledger (through
 * BanBook), which may refuse them. Pure and synchronous: its only clock is the events' time.
 */
export class Policy {
  readonly trust: TrustBook;
  readonly outcomes: Record<Outcome, number> = { ban: 0, alert: 0, trust: 0, scored: 0, allowed: 0, 'already-banned': 0, 'not-a-failure': 0 };
  private readonly decoys: DecoyAccounts;
  private readonly failureRules: readonly FailureRule[];
  private readonly decoyAuthenticated: SuccessRule;
  private tools: RuleTools;
  private readonly failure: MutableFailure = { event: undefined!, key: undefined!, slot: -1, score: 0, slowScore: 0, trusted: false, trustFactor: 1, proven: false, banned: undefined };
  private lastLocal: Endpoint | undefined;

  constructor(
    private config: PolicyConfig,
    private readonly scoreboard: Scoreboard,
    readonly neverBan: NeverBan,
    private readonly bans: BanBook,
  ) {
    this.decoys = new DecoyAccounts(config.decoys);
    this.trust = new TrustBook(rangeLengths(config));
    // Order matters: the account alert sees every failure; a tripwire only fires when the
    // scores did not ban already; a warning only for a source not banned; the subnet last.
    this.failureRules = [accountAttack(), scoreBan, tripwire(this.decoys), stalePasswordWarning, subnetBan()];
    this.decoyAuthenticated = decoyAuthenticated(this.decoys);
    this.tools = {
      config,
      scoreboard,
      banned: (prefix, time) => bans.bannedUntil(prefix, time) !== undefined,
      holdsTrusted: (range, time) => this.trust.holdsTrusted(range, time),
      ban: (target, time, reason, evidence) => this.ban(target, time, reason, evidence),
      alert: (severity, reason, time, text, target, evidence): AlertDecision => ({ action: 'alert', severity, reason, time, text, target, evidence }),
      evidence: (f: Failure, trigger: Trigger): Evidence => scoreboard.evidence(f.slot, f.key, trigger),
    };
  }

  /** A reloaded config (SIGHUP): thresholds, decoys, trust. Bans, scores and trust stay. */
  reconfigure(config: PolicyConfig): void {
    this.config = config;
    this.tools = { ...this.tools, config };
    this.decoys.set(config.decoys);
    this.trust.indexRanges(rangeLengths(config));
  }

  /** The scoring key of an address: its /64 for IPv6, narrowed to itself beside spared ones. */
  keyOf(ip: IpPrefix): IpPrefix {
    const key = scoringKey(ip, this.config.ipv6PrefixLength);
    return key !== ip && this.neverBan.overlaps(key) ? ip : key;
  }

  handle(event: SecurityEvent): readonly Decision[] {
    // The parser hands out the same Endpoint while LocalAddress repeats: one lookup less.
    const local = event.local;
    if (local && local !== this.lastLocal) {
      this.neverBan.learnOwn(local.ip);
      this.lastLocal = local;
    }
    if (event.kind === 'SuccessfulAuth') return this.onSuccess(event);
    if (!isFailureKind(event.kind)) return this.count('not-a-failure');
    const ip = event.remote.ip;
    if (this.neverBan.covers(ip)) return this.count('allowed');
    const key = this.keyOf(ip);
    if (this.bans.bannedUntil(key, event.time) !== undefined) return this.count('already-banned');
    const f = this.failure;
    f.event = event as SecurityEvent & { kind: FailureKind };
    f.key = key;
    f.trusted = this.trust.trustedUntil(key, event.time) !== undefined;
    f.trustFactor = f.trusted ? this.config.trust.factor : 1;
    f.proven = event.roundTrip;
    // A forger can write a trusted trunk's address into UDP packets: such failures are on
    // record (and warned about) but never add to its score.
    f.slot = this.scoreboard.recordFailure(f.event, key, mayBanSource(f));
    f.score = this.scoreboard.score;
    f.slowScore = this.scoreboard.slowScore;
    f.banned = undefined;
    // Most events are scored and decide nothing: no array for them.
    let out: Decision[] | undefined;
    for (const rule of this.failureRules) {
      const d = rule(f, this.tools);
      if (d === undefined) continue;
      out = this.collect(out, d);
      if (d.action === 'ban') f.banned = d;
    }
    return out ?? this.count('scored');
  }

  private onSuccess(event: SecurityEvent): readonly Decision[] {
    const ip = event.remote.ip;
    const key = this.keyOf(ip);
    const success: Success = { event, key, trusted: this.trust.trustedUntil(key, event.time) !== undefined };
    // A decoy that authenticates is news even from an allow-listed address.
    const decoy = this.decoyAuthenticated(success, this.tools);
    if (decoy !== undefined) return this.collect(undefined, decoy);
    if (this.neverBan.covers(ip)) return this.count('allowed');
    // A banned source earns no trust: its /64 neighbour that guessed the password, logging in
    // again, would otherwise be trusted for a week when the ban ends (found by the property test).
    if (this.bans.bannedUntil(key, event.time) !== undefined) return this.count('already-banned');
    const guessed = guessedPassword(success, this.tools);
    if (guessed !== undefined) return this.collect(undefined, guessed);
    const until = event.time + this.config.trust.durationMs;
    this.trust.trust(key, until, event.time);
    this.outcomes.trust++;
    return [{ action: 'trust', target: key, time: event.time, until, account: event.account }];
  }

  private ban(target: IpPrefix, time: number, reason: BanReason, evidence: Evidence | undefined): BanDecision | undefined {
    const r = this.bans.request({ target, time, reason, origin: 'auto', evidence });
    if ('refused' in r) return undefined;
    // Its score starts from nothing when the ban ends.
    this.scoreboard.forget(target);
    return r;
  }

  private collect(out: Decision[] | undefined, d: Exclude<Decided, undefined>): Decision[] {
    if (!Array.isArray(d)) {
      this.outcomes[(d as Decision).action]++;
      // An array literal of the right size: most events that decide decide one thing.
      if (out === undefined) return [d as Decision];
      out.push(d as Decision);
      return out;
    }
    const list = out ?? [];
    for (const one of d as readonly Decision[]) {
      this.outcomes[one.action]++;
      list.push(one);
    }
    return list;
  }

  private count(outcome: Outcome): readonly Decision[] {
    this.outcomes[outcome]++;
    return NONE;
  }
}

function rangeLengths(config: PolicyConfig): RangeLengths {
  return { ipv4: config.subnet.ipv4Length, ipv6: config.subnet.ipv6Length };
}
