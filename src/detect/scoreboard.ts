import { widen, type IpPrefix } from '../net/ip-prefix.js';
import { FAILURE_KINDS, type FailureKind, type SecurityEvent } from '../events/security-event.js';
import { SlotIndex } from './slot-index.js';

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
  /** Beyond this many sources, ones not seen for a while are forgotten (CLOCK). */
  readonly maxSources: number;
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

// Failures in a flood arrive a few ms apart, so the first ones have decayed by a hair when the
// threshold-th lands (5 guesses at 175/s lose 0.0007 with a 60 s half-life). Without this
// margin the threshold-th guess would never ban and every ban would cost one more guess.
const SCORE_TOLERANCE = 0.05;

/** The scoring key of an address: itself for IPv4, its /64 (by default) for IPv6. */
export function scoringKey(ip: IpPrefix, ipv6PrefixLength: number): IpPrefix {
  return ip.family === 6 ? widen(ip, ipv6PrefixLength) : ip;
}

/** Account names of the evidence, by hash: bounded, the oldest forgotten first. */
const MAX_ACCOUNT_NAMES = 65_536;
/** Distinct accounts remembered per source (and services per board, as bits). */
const ACCOUNT_SLOTS = 4;
const MAX_SERVICES = 32;
const KIND_COUNT = FAILURE_KINDS.length;
const KIND_INDEX = Object.fromEntries(FAILURE_KINDS.map((k, i) => [k, i])) as Record<FailureKind, number>;
const WARNED = 1;

/**
 * Decaying failure scores per source, two horizons: a short one for floods and a long one for
 * slow guessing. Pure: time comes in with each event. Each source is a slot in typed-array
 * columns (see SlotIndex): about 90 bytes, and nothing for the garbage collector to trace.
 */
export class Scoreboard {
  private readonly index: SlotIndex;
  private readonly score: Float32Array;
  private readonly slowScore: Float32Array;
  private readonly first: Float64Array;
  private readonly last: Float64Array;
  /** Failures per kind, saturating at 255: a source bans long before. */
  private readonly counts: Uint8Array;
  /** Hashes of the first accounts tried (0: none); the names are in `accountNames`. */
  private readonly accounts: Uint32Array;
  private readonly serviceBits: Uint32Array;
  private readonly flags: Uint8Array;
  private readonly accountNames = new Map<number, string>();
  private readonly services: string[] = [];
  private readonly lnHalf: number;
  private readonly slowLnHalf: number;

  constructor(private readonly config: ScoringConfig) {
    this.lnHalf = Math.LN2 / config.halfLifeMs;
    this.slowLnHalf = Math.LN2 / config.slowHalfLifeMs;
    this.index = new SlotIndex(config.maxSources);
    const n = config.maxSources;
    this.score = new Float32Array(n);
    this.slowScore = new Float32Array(n);
    this.first = new Float64Array(n);
    this.last = new Float64Array(n);
    this.counts = new Uint8Array(n * KIND_COUNT);
    this.accounts = new Uint32Array(n * ACCOUNT_SLOTS);
    this.serviceBits = new Uint32Array(n);
    this.flags = new Uint8Array(n);
  }

  get size(): number {
    return this.index.size;
  }

  /**
   * Records one failure; returns the offense when the source crosses a threshold. A trusted
   * source needs `trustFactor` times the score, and its first failure is worth a warning.
   */
  recordFailure(event: SecurityEvent & { kind: FailureKind }, key: IpPrefix, trustFactor = 1): Offense | undefined {
    const weight = this.config.weights[event.kind];
    const slot = this.slotFor(key, event.time);
    const dt = Math.max(0, event.time - this.last[slot]!);
    const score = this.score[slot]! * Math.exp(-dt * this.lnHalf) + weight;
    const slowScore = this.slowScore[slot]! * Math.exp(-dt * this.slowLnHalf) + weight;
    this.score[slot] = score;
    this.slowScore[slot] = slowScore;
    this.last[slot] = Math.max(this.last[slot]!, event.time);
    const count = slot * KIND_COUNT + KIND_INDEX[event.kind];
    if (this.counts[count]! < 0xff) this.counts[count]!++;
    if (event.account !== undefined) this.rememberAccount(slot, event.account);
    this.serviceBits[slot]! |= this.serviceBit(event.service);
    const warned = (this.flags[slot]! & WARNED) !== 0;
    const trigger: Trigger | undefined =
      score + SCORE_TOLERANCE >= this.config.threshold * trustFactor
        ? 'burst'
        : slowScore + SCORE_TOLERANCE >= this.config.slowThreshold * trustFactor
          ? 'slow'
          : warned
            ? undefined
            : trustFactor > 1
              ? 'trusted-failing'
              : this.looksLikeStalePassword(slot)
                ? 'stale-password'
                : undefined;
    if (trigger === undefined) return undefined;
    const evidence = this.evidenceOf(slot, key, trigger);
    // A source that bans stays until the policy forgets it with its ban (one place for both).
    if (trigger === 'stale-password' || trigger === 'trusted-failing') this.flags[slot]! |= WARNED;
    return { source: key, evidence };
  }

  private looksLikeStalePassword(slot: number): boolean {
    const failures = this.counts[slot * KIND_COUNT + KIND_INDEX.ChallengeResponseFailed]!;
    return (
      failures >= STALE_PASSWORD_FAILURES &&
      failures === this.failuresAt(slot) &&
      this.accounts[slot * ACCOUNT_SLOTS] !== 0 &&
      this.accounts[slot * ACCOUNT_SLOTS + 1] === 0 &&
      this.score[slot]! < this.config.threshold / 2
    );
  }

  /** How many failures the source has on record now. */
  failures(key: IpPrefix): number {
    const slot = this.index.find(key);
    return slot === -1 ? 0 : this.failuresAt(slot);
  }

  /** The source's evidence as it stands, for a decision the policy makes itself. */
  snapshot(key: IpPrefix, trigger: Trigger): Evidence | undefined {
    const slot = this.index.find(key);
    return slot === -1 ? undefined : this.evidenceOf(slot, key, trigger);
  }

  /** Live scores for `why`, decayed to `now`. */
  scores(key: IpPrefix, now: number): { score: number; slowScore: number } | undefined {
    const slot = this.index.find(key);
    if (slot === -1) return undefined;
    const dt = Math.max(0, now - this.last[slot]!);
    return { score: round2(this.score[slot]! * Math.exp(-dt * this.lnHalf)), slowScore: round2(this.slowScore[slot]! * Math.exp(-dt * this.slowLnHalf)) };
  }

  /** Forgets a source, e.g. once it is banned or allow-listed. */
  forget(key: IpPrefix): void {
    const slot = this.index.find(key);
    if (slot !== -1) this.index.remove(slot);
  }

  private slotFor(key: IpPrefix, time: number): number {
    const found = this.index.find(key);
    if (found !== -1) return found;
    const { slot } = this.index.insert(key);
    this.score[slot] = 0;
    this.slowScore[slot] = 0;
    this.first[slot] = time;
    this.last[slot] = time;
    this.counts.fill(0, slot * KIND_COUNT, slot * KIND_COUNT + KIND_COUNT);
    this.accounts.fill(0, slot * ACCOUNT_SLOTS, slot * ACCOUNT_SLOTS + ACCOUNT_SLOTS);
    this.serviceBits[slot] = 0;
    this.flags[slot] = 0;
    return slot;
  }

  private failuresAt(slot: number): number {
    let n = 0;
    for (let i = slot * KIND_COUNT; i < slot * KIND_COUNT + KIND_COUNT; i++) n += this.counts[i]!;
    return n;
  }

  private rememberAccount(slot: number, account: string): void {
    const hash = accountHash(account);
    const base = slot * ACCOUNT_SLOTS;
    for (let i = base; i < base + ACCOUNT_SLOTS; i++) {
      const held = this.accounts[i]!;
      if (held === hash) return;
      if (held !== 0) continue;
      this.accounts[i] = hash;
      if (!this.accountNames.has(hash)) {
        this.accountNames.set(hash, account);
        if (this.accountNames.size > MAX_ACCOUNT_NAMES) this.accountNames.delete(this.accountNames.keys().next().value as number);
      }
      return;
    }
  }

  private serviceBit(service: string): number {
    let i = this.services.indexOf(service);
    if (i === -1) {
      // Asterisk has a handful of services; a flood of made-up ones is not kept.
      if (this.services.length >= MAX_SERVICES) return 0;
      i = this.services.push(service) - 1;
    }
    return (1 << i) >>> 0;
  }

  private evidenceOf(slot: number, key: IpPrefix, trigger: Trigger): Evidence {
    const events: Partial<Record<FailureKind, number>> = {};
    for (let i = 0; i < KIND_COUNT; i++) {
      const n = this.counts[slot * KIND_COUNT + i]!;
      if (n > 0) events[FAILURE_KINDS[i]!] = n;
    }
    const accounts: string[] = [];
    for (let i = slot * ACCOUNT_SLOTS; i < slot * ACCOUNT_SLOTS + ACCOUNT_SLOTS; i++) {
      const name = this.accounts[i] === 0 ? undefined : this.accountNames.get(this.accounts[i]!);
      if (name !== undefined) accounts.push(name);
    }
    const bits = this.serviceBits[slot]!;
    return {
      source: key.text,
      trigger,
      score: round2(this.score[slot]!),
      slowScore: round2(this.slowScore[slot]!),
      events,
      accounts,
      services: this.services.filter((_, i) => (bits >>> i) & 1),
      firstSeen: this.first[slot]!,
      lastSeen: this.last[slot]!,
    };
  }
}

function accountHash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0 || 1;
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
