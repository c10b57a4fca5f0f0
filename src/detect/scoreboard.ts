import { widen, type IpPrefix } from '../net/ip-prefix.js';
import { FAILURE_KINDS, type FailureKind, type SecurityEvent } from '../events/security-event.js';
import type { Evidence, Trigger } from './evidence.js';
import { SlotIndex } from './slot-index.js';
import {
  ACCOUNT_SLOTS,
  F32_SCORE,
  F32_SLOW,
  F64_FIRST,
  F64_LAST,
  F64_STRIDE,
  FLAG_WARNED,
  KIND_SLOTS,
  SourceRecords,
  U32_ACCOUNTS,
  U32_SERVICES,
  U8_COUNTS,
  U8_FLAGS,
  U8_STRIDE,
  X32_STRIDE,
} from './source-records.js';

export interface ScoringConfig {
  /** Half-life of the burst score, in ms. */
  readonly halfLifeMs: number;
  readonly slowHalfLifeMs: number;
  readonly weights: Readonly<Record<FailureKind, number>>;
  /** Beyond this many sources, ones not seen for a while are forgotten (CLOCK). */
  readonly maxSources: number;
}

/** The scoring key of an address: itself for IPv4, its /64 (by default) for IPv6. */
export function scoringKey(ip: IpPrefix, ipv6PrefixLength: number): IpPrefix {
  return ip.family === 6 ? widen(ip, ipv6PrefixLength) : ip;
}

/** Account names of the evidence, by hash: bounded, the oldest forgotten first. */
const MAX_ACCOUNT_NAMES = 65_536;
const MAX_SERVICES = 32;
const KIND_INDEX = Object.fromEntries(FAILURE_KINDS.map((k, i) => [k, i])) as Record<FailureKind, number>;

/**
 * Decaying failure scores per source, two horizons: a short one for floods and a long one for
 * slow guessing. Pure: time comes in with each event. Each source is a 64-byte record (see
 * SourceRecords), found through SlotIndex.
 */
export class Scoreboard {
  private readonly records: SourceRecords;
  private readonly index: SlotIndex;
  private readonly accountNames = new Map<number, string>();
  private readonly services: string[] = [];
  private lnHalf: number;
  private slowLnHalf: number;
  /** The scores the last recorded failure reached (fields, not a returned object: no garbage per event). */
  score = 0;
  slowScore = 0;

  constructor(private config: ScoringConfig) {
    this.lnHalf = Math.LN2 / config.halfLifeMs;
    this.slowLnHalf = Math.LN2 / config.slowHalfLifeMs;
    this.records = new SourceRecords(config.maxSources);
    this.index = new SlotIndex(this.records);
  }

  get size(): number {
    return this.index.size;
  }

  /** New half-lives and weights (SIGHUP); scores so far stay. The cap stays too: it sized the records. */
  reconfigure(config: ScoringConfig): void {
    this.config = { ...config, maxSources: this.config.maxSources };
    this.lnHalf = Math.LN2 / config.halfLifeMs;
    this.slowLnHalf = Math.LN2 / config.slowHalfLifeMs;
  }

  /**
   * Records one failure and returns the source's slot, valid until the next call; the decayed
   * scores it reached are in `score` and `slowScore`. Deciding what they mean is the policy's.
   * `weighed` false: on record (counted, shown in evidence) but adding nothing to the scores.
   * `tag`: what the record's four distinct slots remember, the account by default (a range's
   * board remembers its members instead: how many distinct sources failed in it).
   */
  recordFailure(event: SecurityEvent & { kind: FailureKind }, key: IpPrefix, weighed = true, tag = event.account): number {
    const weight = weighed ? this.config.weights[event.kind] : 0;
    const slot = this.slotFor(key, event.time);
    const { f64, f32, u32, u8 } = this.records;
    const last = slot * F64_STRIDE + F64_LAST;
    const dt = Math.max(0, event.time - f64[last]!);
    const score = f32[slot * X32_STRIDE + F32_SCORE]! * Math.exp(-dt * this.lnHalf) + weight;
    const slowScore = f32[slot * X32_STRIDE + F32_SLOW]! * Math.exp(-dt * this.slowLnHalf) + weight;
    f32[slot * X32_STRIDE + F32_SCORE] = score;
    f32[slot * X32_STRIDE + F32_SLOW] = slowScore;
    this.score = score;
    this.slowScore = slowScore;
    f64[last] = Math.max(f64[last]!, event.time);
    const count = slot * U8_STRIDE + U8_COUNTS + KIND_INDEX[event.kind];
    if (u8[count]! < 0xff) u8[count]!++;
    if (tag !== undefined) this.rememberAccount(slot, tag);
    u32[slot * X32_STRIDE + U32_SERVICES]! |= this.serviceBit(event.service);
    return slot;
  }

  /** Has the source been warned about already (one warning per source while it is tracked)? */
  warned(slot: number): boolean {
    return (this.records.u8[slot * U8_STRIDE + U8_FLAGS]! & FLAG_WARNED) !== 0;
  }

  markWarned(slot: number): void {
    this.records.u8[slot * U8_STRIDE + U8_FLAGS]! |= FLAG_WARNED;
  }

  /**
   * How many wrong passwords the source sent for the one account it uses, when that is all it
   * ever did; 0 when it tried other accounts or failed otherwise.
   */
  singleAccountPasswordFailures(slot: number): number {
    const { u32, u8 } = this.records;
    const failures = u8[slot * U8_STRIDE + U8_COUNTS + KIND_INDEX.ChallengeResponseFailed]!;
    const accounts = slot * X32_STRIDE + U32_ACCOUNTS;
    return failures === this.failuresAt(slot) && u32[accounts] !== 0 && u32[accounts + 1] === 0 ? failures : 0;
  }

  /** How many distinct tags (accounts, or a range's members) the record holds, up to four. */
  distinctTags(slot: number): number {
    const u32 = this.records.u32;
    let n = 0;
    for (let i = slot * X32_STRIDE + U32_ACCOUNTS; i < slot * X32_STRIDE + U32_ACCOUNTS + ACCOUNT_SLOTS; i++) if (u32[i] !== 0) n++;
    return n;
  }

  /** Does the record hold `failures` failures or more, all within `windowMs` of its first? */
  arrivedWithin(slot: number, failures: number, windowMs: number): boolean {
    const f64 = this.records.f64;
    return f64[slot * F64_STRIDE + F64_LAST]! - f64[slot * F64_STRIDE + F64_FIRST]! <= windowMs && this.failuresAt(slot) >= failures;
  }

  /** How many failures the source has on record now. */
  failures(key: IpPrefix): number {
    const slot = this.index.find(key);
    return slot === -1 ? 0 : this.failuresAt(slot);
  }

  /** The source's evidence as it stands, for a decision about it. */
  snapshot(key: IpPrefix, trigger: Trigger): Evidence | undefined {
    const slot = this.index.find(key);
    return slot === -1 ? undefined : this.evidence(slot, key, trigger);
  }

  /** Live scores for `why`, decayed to `now`. */
  scores(key: IpPrefix, now: number): { score: number; slowScore: number } | undefined {
    const slot = this.index.find(key);
    if (slot === -1) return undefined;
    const { f64, f32 } = this.records;
    const dt = Math.max(0, now - f64[slot * F64_STRIDE + F64_LAST]!);
    return { score: round2(f32[slot * X32_STRIDE + F32_SCORE]! * Math.exp(-dt * this.lnHalf)), slowScore: round2(f32[slot * X32_STRIDE + F32_SLOW]! * Math.exp(-dt * this.slowLnHalf)) };
  }

  /** Forgets a source, e.g. once it is banned or allow-listed. */
  forget(key: IpPrefix): void {
    const slot = this.index.find(key);
    if (slot !== -1) this.index.remove(slot);
  }

  private slotFor(key: IpPrefix, time: number): number {
    const found = this.index.find(key);
    if (found !== -1) return found;
    const slot = this.index.insert(key);
    const { f64, f32, u32, u8 } = this.records;
    f64[slot * F64_STRIDE + F64_FIRST] = time;
    f64[slot * F64_STRIDE + F64_LAST] = time;
    f32[slot * X32_STRIDE + F32_SCORE] = 0;
    f32[slot * X32_STRIDE + F32_SLOW] = 0;
    u32.fill(0, slot * X32_STRIDE + U32_ACCOUNTS, slot * X32_STRIDE + U32_ACCOUNTS + ACCOUNT_SLOTS);
    u32[slot * X32_STRIDE + U32_SERVICES] = 0;
    u8.fill(0, slot * U8_STRIDE + U8_COUNTS, slot * U8_STRIDE + U8_COUNTS + KIND_SLOTS);
    // The index has just set its reference bit in the same byte.
    u8[slot * U8_STRIDE + U8_FLAGS]! &= ~FLAG_WARNED;
    return slot;
  }

  private failuresAt(slot: number): number {
    let n = 0;
    for (let i = slot * U8_STRIDE + U8_COUNTS; i < slot * U8_STRIDE + U8_COUNTS + KIND_SLOTS; i++) n += this.records.u8[i]!;
    return n;
  }

  private rememberAccount(slot: number, account: string): void {
    const hash = accountHash(account);
    const accounts = this.records.u32;
    const base = slot * X32_STRIDE + U32_ACCOUNTS;
    for (let i = base; i < base + ACCOUNT_SLOTS; i++) {
      const held = accounts[i]!;
      if (held === hash) return;
      if (held !== 0) continue;
      accounts[i] = hash;
      if (!this.accountNames.has(hash)) {
        this.accountNames.set(hash, ownCopy(account));
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
      i = this.services.push(ownCopy(service)) - 1;
    }
    return (1 << i) >>> 0;
  }

  evidence(slot: number, key: IpPrefix, trigger: Trigger): Evidence {
    const { f64, f32, u32, u8 } = this.records;
    const events: Partial<Record<FailureKind, number>> = {};
    for (let i = 0; i < KIND_SLOTS; i++) {
      const n = u8[slot * U8_STRIDE + U8_COUNTS + i]!;
      if (n > 0) events[FAILURE_KINDS[i]!] = n;
    }
    const accounts: string[] = [];
    for (let i = slot * X32_STRIDE + U32_ACCOUNTS; i < slot * X32_STRIDE + U32_ACCOUNTS + ACCOUNT_SLOTS; i++) {
      const name = u32[i] === 0 ? undefined : this.accountNames.get(u32[i]!);
      if (name !== undefined) accounts.push(name);
    }
    const bits = u32[slot * X32_STRIDE + U32_SERVICES]!;
    return {
      source: key.text,
      trigger,
      score: round2(f32[slot * X32_STRIDE + F32_SCORE]!),
      slowScore: round2(f32[slot * X32_STRIDE + F32_SLOW]!),
      events,
      accounts,
      services: this.services.filter((_, i) => (bits >>> i) & 1),
      firstSeen: f64[slot * F64_STRIDE + F64_FIRST]!,
      lastSeen: f64[slot * F64_STRIDE + F64_LAST]!,
    };
  }
}

/**
 * A string of its own. An account name read from a line is, in V8, a slice of the chunk the
 * line came in (64 KiB of a log, a whole AMI read): kept in a map, each name held its chunk
 * alive. Replay of a 1M-line log with random dialled numbers kept the file in memory (measured:
 * 202 MB RSS).
 */
function ownCopy(text: string): string {
  return (' ' + text).slice(1);
}

/** FNV-1a, never 0 (0 marks an empty account slot). */
function accountHash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0 || 1;
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
