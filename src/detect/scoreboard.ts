import { widen, type IpPrefix } from '../net/ip-prefix.js';
import type { FailureKind, SecurityEvent } from '../events/security-event.js';

export interface ScoringConfig {
  /** Score at which a burst bans (fail2ban's maxretry, for weight-1 failures close together). */
  readonly threshold: number;
  /** Half-life of the burst score, in ms. */
  readonly halfLifeMs: number;
  /** Score at which the slow horizon bans: catches one guess a minute, spares a stale phone. */
  readonly slowThreshold: number;
  readonly slowHalfLifeMs: number;
  readonly weights: Readonly<Record<FailureKind, number>>;
  /** IPv6 sources are scored per prefix of this length (an attacker owns at least a /64). */
  readonly ipv6PrefixLength: number;
  /** Least-recently-seen sources beyond this many are forgotten. */
  readonly maxSources: number;
  /** Distinct accounts remembered per source for the evidence. */
  readonly maxAccountsPerSource: number;
}

/**
 * What made a decision. burst and slow ban; stale-password and trusted-failing only warn (a
 * phone with an old password); guessed-password and tripwire are the policy's own.
 */
export type Trigger = 'burst' | 'slow' | 'stale-password' | 'trusted-failing' | 'guessed-password' | 'tripwire';

// A phone with an old password fails on its one account at its retry pace; an attacker tries
// many accounts, or fails fast. Warn from the third such failure, once per source.
const STALE_PASSWORD_FAILURES = 3;

export interface Evidence {
  readonly source: string;
  readonly trigger: Trigger;
  readonly score: number;
  readonly slowScore: number;
  readonly events: Readonly<Partial<Record<FailureKind, number>>>;
  readonly accounts: readonly string[];
  readonly services: readonly string[];
  readonly firstSeen: number;
  readonly lastSeen: number;
}

export interface Offense {
  readonly source: IpPrefix;
  readonly evidence: Evidence;
}

interface SourceState {
  readonly source: IpPrefix;
  score: number;
  slowScore: number;
  first: number;
  last: number;
  readonly events: Partial<Record<FailureKind, number>>;
  readonly accounts: string[];
  readonly services: string[];
  warned: boolean;
  /** The board's tick when this source was last moved to the recent end. */
  touched: number;
}

// Failures in a flood arrive a few ms apart, so the first ones have decayed by a hair when the
// threshold-th lands (5 guesses at 175/s lose 0.0007 with a 60 s half-life). Without this
// margin the threshold-th guess would never ban and every ban would cost one more guess.
const SCORE_TOLERANCE = 0.05;

/** The scoring key of an address: itself for IPv4, its /64 (by default) for IPv6. */
export function scoringKey(ip: IpPrefix, ipv6PrefixLength: number): IpPrefix {
  return ip.family === 6 ? widen(ip, ipv6PrefixLength) : ip;
}

/**
 * Decaying failure scores per source, two horizons: a short one for floods and a long one for
 * slow guessing. Pure: time comes in with each event.
 */
export class Scoreboard {
  private readonly sources = new Map<string, SourceState>();
  private tick = 0;
  private readonly lnHalf: number;
  private readonly slowLnHalf: number;

  constructor(private readonly config: ScoringConfig) {
    this.lnHalf = Math.LN2 / config.halfLifeMs;
    this.slowLnHalf = Math.LN2 / config.slowHalfLifeMs;
  }

  get size(): number {
    return this.sources.size;
  }

  /**
   * Records one failure; returns the offense when the source crosses a threshold. A trusted
   * source needs `trustFactor` times the score, and its first failure is worth a warning.
   */
  recordFailure(event: SecurityEvent & { kind: FailureKind }, key: IpPrefix, trustFactor = 1): Offense | undefined {
    const weight = this.config.weights[event.kind];
    const state = this.touch(key, event.time);
    const dt = Math.max(0, event.time - state.last);
    state.score = state.score * Math.exp(-dt * this.lnHalf) + weight;
    state.slowScore = state.slowScore * Math.exp(-dt * this.slowLnHalf) + weight;
    state.last = Math.max(state.last, event.time);
    state.events[event.kind] = (state.events[event.kind] ?? 0) + 1;
    remember(state.accounts, event.account, this.config.maxAccountsPerSource);
    remember(state.services, event.service, 8);
    const trigger: Trigger | undefined =
      state.score + SCORE_TOLERANCE >= this.config.threshold * trustFactor
        ? 'burst'
        : state.slowScore + SCORE_TOLERANCE >= this.config.slowThreshold * trustFactor
          ? 'slow'
          : state.warned
            ? undefined
            : trustFactor > 1
              ? 'trusted-failing'
              : this.looksLikeStalePassword(state)
                ? 'stale-password'
                : undefined;
    if (trigger === undefined) return undefined;
    if (trigger === 'stale-password' || trigger === 'trusted-failing') state.warned = true;
    else this.sources.delete(key.text);
    return { source: key, evidence: evidenceOf(state, trigger) };
  }

  private looksLikeStalePassword(state: SourceState): boolean {
    const failures = state.events.ChallengeResponseFailed ?? 0;
    return (
      failures >= STALE_PASSWORD_FAILURES &&
      Object.keys(state.events).length === 1 &&
      state.accounts.length === 1 &&
      state.score < this.config.threshold / 2
    );
  }

  /** How many failures the source has on record now. */
  failures(key: IpPrefix): number {
    const state = this.sources.get(key.text);
    return state ? Object.values(state.events).reduce((a, b) => a + (b ?? 0), 0) : 0;
  }

  /** The source's evidence as it stands, for a decision the policy makes itself. */
  snapshot(key: IpPrefix, trigger: Trigger): Evidence | undefined {
    const state = this.sources.get(key.text);
    return state && evidenceOf(state, trigger);
  }

  /** Live scores for `why`, decayed to `now`. */
  scores(key: IpPrefix, now: number): { score: number; slowScore: number } | undefined {
    const state = this.sources.get(key.text);
    if (!state) return undefined;
    const dt = Math.max(0, now - state.last);
    return { score: round2(state.score * Math.exp(-dt * this.lnHalf)), slowScore: round2(state.slowScore * Math.exp(-dt * this.slowLnHalf)) };
  }

  /** Forgets a source, e.g. once it is banned or allow-listed. */
  forget(key: IpPrefix): void {
    this.sources.delete(key.text);
  }

  private touch(key: IpPrefix, time: number): SourceState {
    this.tick++;
    const existing = this.sources.get(key.text);
    if (existing) {
      // Re-inserting keeps the Map in least-recently-seen order, so eviction is O(1). A source
      // seen in the last eighth of the capacity is recent enough: skip the re-insert, which
      // is most of the cost of a flood from one source.
      if (this.tick - existing.touched > this.config.maxSources >> 3) {
        this.sources.delete(key.text);
        this.sources.set(key.text, existing);
        existing.touched = this.tick;
      }
      return existing;
    }
    const state: SourceState = {
      source: key,
      score: 0,
      slowScore: 0,
      first: time,
      last: time,
      events: {},
      accounts: [],
      services: [],
      warned: false,
      touched: this.tick,
    };
    this.sources.set(key.text, state);
    if (this.sources.size > this.config.maxSources) {
      const oldest = this.sources.keys().next().value as string;
      this.sources.delete(oldest);
    }
    return state;
  }
}

function remember(list: string[], value: string | undefined, max: number): void {
  if (value === undefined || list.length >= max || list.includes(value)) return;
  list.push(value);
}

function evidenceOf(state: SourceState, trigger: Trigger): Evidence {
  return {
    source: state.source.text,
    trigger,
    score: round2(state.score),
    slowScore: round2(state.slowScore),
    events: { ...state.events },
    accounts: [...state.accounts],
    services: [...state.services],
    firstSeen: state.first,
    lastSeen: state.last,
  };
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
