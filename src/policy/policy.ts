import type { Evidence, Trigger } from '../detect/evidence.js';
import { scoringKey, type Scoreboard } from '../detect/scoreboard.js';
import { isFailureKind, type Endpoint, type FailureKind, type SecurityEvent } from '../events/security-event.js';
import { widen, type IpPrefix } from '../net/ip-prefix.js';
import type { BanBook } from './ban-book.js';
import type { AlertDecision, BanDecision, BanReason, Decision } from './decision.js';
import type { NeverBan } from './never-ban.js';
import type { PolicyConfig } from './policy-config.js';
import { AccountSieges } from './rules/account-siege.js';
import { DecoyAccounts, decoyAuthenticated, tripwire } from './rules/decoys.js';
import { guessedPassword } from './rules/guessed-password.js';
import { mayBanSource, type Decided, type Failure, type FailureRule, type RuleTools, type Success, type SuccessRule } from './rules/rule.js';
import { scoreBan } from './rules/score.js';
import { stalePasswordWarning } from './rules/stale-password.js';
import { rangeBan } from './rules/range.js';
import { subnetBan } from './rules/subnet.js';
import { TrustBook, type RangeLengths } from './trust-book.js';

export type Outcome = 'ban' | 'alert' | 'trust' | 'scored' | 'allowed' | 'already-banned' | 'not-a-failure';

const NONE: readonly Decision[] = Object.freeze([]);
const MAX_CACHED_RANGES = 65_536;

/** A failure's fields, reused for every event: the hot path allocates nothing for it. */
type MutableFailure = { -readonly [K in keyof Failure]: Failure[K] };

/**
 * Turns security events into decisions: the never-ban lists first, then the scoreboard, then
 * the rules in order, each one concern (rules/). Bans are requests to the ban ledger (through
 * BanBook), which may refuse them. Pure and synchronous: its only clock is the events' time.
 */
export class Policy {
  readonly trust: TrustBook;
  readonly sieges = new AccountSieges();
  private counted = false;
  readonly outcomes: Record<Outcome, number> = { ban: 0, alert: 0, trust: 0, scored: 0, allowed: 0, 'already-banned': 0, 'not-a-failure': 0 };
  private readonly decoys: DecoyAccounts;
  private readonly failureRules: readonly FailureRule[];
  private readonly decoyAuthenticated: SuccessRule;
  private tools: RuleTools;
  private readonly failure: MutableFailure = { event: undefined!, key: undefined!, range: undefined!, slot: -1, score: 0, slowScore: 0, trusted: false, trustFactor: 1, proven: false, banned: undefined };
  private lastLocal: Endpoint | undefined;
  /**
   * Told of each failure that counted and banned nothing here (fleet mode shares it: another
   * node's failures may complete the score). Called after the decisions; must not throw.
   */
  onUnbannedFailure: ((f: Failure) => void) | undefined;
  /** IPv4 ranges by number (see rangeOf); emptied when full, and when range lengths change. */
  private readonly ipv4Ranges = new Map<number, IpPrefix>();

  constructor(
    private config: PolicyConfig,
    private readonly scoreboard: Scoreboard,
    readonly neverBan: NeverBan,
    private readonly bans: BanBook,
    /** Range scores (rules/range.ts): one record per /24 or /48 with failures. */
    readonly ranges: Scoreboard,
  ) {
    this.decoys = new DecoyAccounts(config.decoys);
    this.trust = new TrustBook(rangeLengths(config));
    // Order matters: the source's own score first; then its range, fed by every failure (a
    // range ban makes the member's own needless); the siege sees every failure (and bans at
    // the first one a source makes on an account under siege); a tripwire only fires when
    // nothing banned already; a warning only for a source not banned; the subnet (banned
    // members) last.
    this.failureRules = [scoreBan, rangeBan(ranges), (f, t) => this.sieges.onFailure(f, t), tripwire(this.decoys), stalePasswordWarning, subnetBan()];
    this.decoyAuthenticated = decoyAuthenticated(this.decoys);
    this.tools = {
      config,
      scoreboard,
      banned: (prefix, time) => bans.bannedUntil(prefix, time) !== undefined,
      stopped: (key, time) => bans.bannedUntil(key, time) !== undefined || bans.bannedUntil(this.rangeOf(key), time) !== undefined,
      holdsTrusted: (range, time) => this.trust.holdsTrusted(range, time),
      ban: (target, time, reason, evidence, durationMs) => this.ban(target, time, reason, evidence, durationMs),
      nextStep: (prefix, time) => bans.nextStep(prefix, time).step,
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
    this.ipv4Ranges.clear();
  }

  /** The scoring key of an address: its /64 for IPv6, narrowed to itself beside spared ones. */
  keyOf(ip: IpPrefix): IpPrefix {
    const key = scoringKey(ip, this.config.ipv6PrefixLength);
    return key !== ip && this.neverBan.overlaps(key) ? ip : key;
  }

  /** The range a scoring key's failures also count for (`why` shows its score); the key itself when it is as wide. */
  rangeOf(key: IpPrefix): IpPrefix {
    if (key.family === 6) return widen(key, this.config.range.ipv6Length);
    // Every event asks: IPv4 ranges are kept by their first three bytes' number, not made
    // anew (an object and its text per event cost benchmark 1 a tenth of its rate).
    const length = this.config.range.ipv4Length;
    if (length > 24 || length >= key.length) return widen(key, length);
    const b = key.bytes;
    const id = ((b[0]! << 16) | (b[1]! << 8) | b[2]!) >>> (24 - length);
    let range = this.ipv4Ranges.get(id);
    if (range === undefined) {
      if (this.ipv4Ranges.size >= MAX_CACHED_RANGES) this.ipv4Ranges.clear();
      this.ipv4Ranges.set(id, (range = widen(key, length)));
    }
    return range;
  }

  /**
   * Whether the last event handled was a failure that adds to a score (not from a never-ban or
   * allow-listed address, not a forgery of a trusted one): the toll-fraud guard counts only those.
   */
  get lastFailureCounted(): boolean {
    return this.counted;
  }

  handle(event: SecurityEvent): readonly Decision[] {
    this.counted = false;
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
    const range = this.rangeOf(key);
    // Guesses a swarm had in flight when its range was banned: each would otherwise become a
    // ban of its own (a siege's), an element and two conntrack flushes the range made useless.
    if (range !== key && this.bans.bannedUntil(range, event.time) !== undefined) return this.count('already-banned');
    const f = this.failure;
    f.event = event as SecurityEvent & { kind: FailureKind };
    f.key = key;
    f.range = range;
    f.trusted = this.trust.trustedUntil(key, event.time) !== undefined;
    f.trustFactor = f.trusted ? this.config.trust.factor : 1;
    f.proven = event.roundTrip;
    // A forger can write a trusted trunk's address into UDP packets: such failures are on
    // record (and warned about) but never add to its score.
    this.counted = mayBanSource(f);
    f.slot = this.scoreboard.recordFailure(f.event, key, this.counted);
    f.score = this.scoreboard.score;
    f.slowScore = this.scoreboard.slowScore;
    f.banned = undefined;
    // Most events are scored and decide nothing: no array for them.
    let out: Decision[] | undefined;
    for (const rule of this.failureRules) {
      const d = rule(f, this.tools);
      if (d === undefined) continue;
      out = this.collect(out, d);
      // A rule may decide several things (a siege starts: its first sources banned, an alert).
      if (!Array.isArray(d)) {
        if ((d as Decision).action === 'ban') f.banned = d as BanDecision;
      } else for (const one of d as readonly Decision[]) if (one.action === 'ban') f.banned = one;
    }
    if (this.sieges.size > 0) for (const ended of this.sieges.endQuiet(event.time, this.tools)) out = this.collect(out, ended);
    if (this.onUnbannedFailure !== undefined && f.banned === undefined && mayBanSource(f)) this.onUnbannedFailure(f);
    return out ?? this.count('scored');
  }

  /** What time alone decides (the daemon asks every half minute): sieges that went quiet end. */
  tick(time: number): readonly Decision[] {
    if (this.sieges.size === 0) return NONE;
    let out: Decision[] | undefined;
    for (const ended of this.sieges.endQuiet(time, this.tools)) out = this.collect(out, ended);
    return out ?? NONE;
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

  private ban(target: IpPrefix, time: number, reason: BanReason, evidence: Evidence | undefined, durationMs?: number | null): BanDecision | undefined {
    const r = this.bans.request({ target, time, reason, origin: 'auto', evidence, ...(durationMs !== undefined ? { durationMs } : {}) });
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
