import type { IpPrefix } from '../net/ip-prefix.js';
import type { NeverBan } from '../policy/never-ban.js';
import type { BanDecision, BanOrigin, BanReason, BanRequest } from '../policy/decision.js';
import type { BanBook } from '../policy/ban-book.js';
import { MAX_DURATION_MS } from '../time/duration.js';

export interface LedgerConfig {
  /** Ban length per escalation step (null: permanent); the last step repeats. */
  readonly ladder: readonly (number | null)[];
  /** Earlier bans of the same prefix within this window raise the step. */
  readonly lookbackMs: number;
  /** The longest ban an import may set (null: no bound); the admin's own `--for` is not bound. */
  readonly maxImportedMs: number | null;
  /** The widest prefix an admin or an import may ban without `force`, per family. */
  readonly widest: { readonly 4: number; readonly 6: number };
}

/** A ban in force, as the ledger holds it. */
export interface ActiveBan {
  readonly prefix: IpPrefix;
  readonly since: number;
  /** null: permanent. */
  readonly until: number | null;
  readonly reason: BanReason | string;
  readonly origin: BanOrigin;
  readonly step: number;
}

/** Why the ledger refused a request: built without text, the policy's refusals cost nothing; see describeRefusal. */
export type Refusal =
  | { readonly refused: 'spared'; readonly target: IpPrefix; readonly by: string }
  | { readonly refused: 'already-banned'; readonly target: IpPrefix; readonly until: number | null }
  | { readonly refused: 'expired'; readonly target: IpPrefix }
  | { readonly refused: 'too-long'; readonly target: IpPrefix }
  | { readonly refused: 'too-wide'; readonly target: IpPrefix; readonly widest: number };

export function describeRefusal(r: Refusal): string {
  switch (r.refused) {
    case 'spared':
      return `${r.target.text} is ${r.by}: it is never banned`;
    case 'already-banned':
      return `${r.target.text} is banned already, ${r.until === null ? 'for good' : `until ${new Date(r.until).toISOString()}`}`;
    case 'expired':
      return `the ban of ${r.target.text} has already ended`;
    case 'too-long':
      return `a ban of ${r.target.text} longer than ${MAX_DURATION_MS / 86_400_000}d: make it permanent instead`;
    case 'too-wide':
      return `${r.target.text} is wider than /${r.widest} (policy.widest_ban): ban it with --force if you mean it`;
  }
}

/** Where accepted changes go: the enforcer (kernel, conntrack, retries) in the daemon; nowhere in a replay. */
export interface LedgerSink {
  ban(decision: BanDecision): void;
  lift(prefix: IpPrefix, time: number, origin: BanOrigin): void;
}

const NO_SINK: LedgerSink = { ban() {}, lift() {} };
const NONE: readonly number[] = Object.freeze([]);

/**
 * The one owner of the bans in force and of their escalation history, and the one caller of
 * the enforcer. Every ban and unban, whatever its origin (policy, admin, import, restore at
 * start, later the fleet), is a request here: the never-ban lists (by overlap), bounded
 * lengths and the ladder apply to all of them alike, and a refused request changes nothing.
 * Synchronous and clock-free: time comes in with each request.
 */
export class BanLedger implements BanBook {
  private readonly active = new Map<string, ActiveBan>();
  /** Ban start times per prefix within the lookback. */
  private readonly history = new Map<string, number[]>();
  private pruneAt = 1024;

  constructor(
    private config: LedgerConfig,
    private readonly neverBan: NeverBan,
    private readonly sink: LedgerSink = NO_SINK,
  ) {}

  reconfigure(config: LedgerConfig): void {
    this.config = config;
  }

  /** Accepts a ban (its decision is on its way to the kernel) or says why not. */
  request(r: BanRequest): BanDecision | Refusal {
    const spared = this.neverBan.why(r.target);
    if (spared) return { refused: 'spared', target: r.target, by: spared };
    const widest = this.config.widest[r.target.family];
    if (r.origin !== 'auto' && !r.force && r.target.length < widest) return { refused: 'too-wide', target: r.target, widest };
    const { step, durationMs: ladderMs } = this.nextStep(r.target, r.time);
    const durationMs = r.durationMs === undefined ? ladderMs : this.bound(r.durationMs, r.origin);
    if (durationMs !== null && durationMs <= 0) return { refused: 'expired', target: r.target };
    if (durationMs !== null && !(durationMs <= MAX_DURATION_MS)) return { refused: 'too-long', target: r.target };
    const until = durationMs === null ? null : r.time + durationMs;
    const held = this.live(r.target, r.time);
    // The policy never extends a ban in force (its ladder would escalate a prefix that is only
    // still failing in a replay, where nothing drops it); an admin or an import may, to a later end.
    if (held && (r.origin === 'auto' || held.until === null || (until !== null && held.until >= until))) {
      return { refused: 'already-banned', target: r.target, until: held.until };
    }
    this.active.set(r.target.text, { prefix: r.target, since: r.time, until, reason: r.note ?? r.reason, origin: r.origin, step });
    this.remember(r.target, r.time);
    if (this.active.size > this.pruneAt) this.prune(r.time);
    const decision: BanDecision = { action: 'ban', target: r.target, time: r.time, durationMs, step, reason: r.reason, origin: r.origin, evidence: r.evidence, note: r.note };
    this.sink.ban(decision);
    return decision;
  }

  /** Lifts a ban in force; undefined (and nothing changes) when the prefix is not banned. */
  lift(prefix: IpPrefix, time: number, origin: BanOrigin): ActiveBan | undefined {
    const held = this.live(prefix, time);
    if (!held) return undefined;
    this.active.delete(prefix.text);
    this.sink.lift(prefix, time, origin);
    return held;
  }

  /**
   * What the store remembered at start: bans in force and the escalation history. The caller
   * makes the kernel match them in one transaction; nothing is sent to the sink.
   */
  restore(bans: Iterable<ActiveBan>, history: ReadonlyMap<string, readonly number[]>): void {
    for (const b of bans) this.active.set(b.prefix.text, b);
    for (const [k, times] of history) this.history.set(k, [...times]);
  }

  /** When the prefix's ban ends (Infinity: permanent), if it is banned at `time`. */
  bannedUntil(prefix: IpPrefix, time: number): number | undefined {
    const held = this.active.get(prefix.text);
    if (held === undefined) return undefined;
    if (held.until === null) return Infinity;
    return held.until > time ? held.until : undefined;
  }

  /** The bans in force at `time`. */
  *bans(time: number): IterableIterator<ActiveBan> {
    for (const b of this.active.values()) if (b.until === null || b.until > time) yield b;
  }

  /** How many bans are held (expired ones not yet pruned included): O(1), for `status`. */
  get size(): number {
    return this.active.size;
  }

  /** The escalation step and ban length a new ban of `prefix` would get at `time`. */
  nextStep(prefix: IpPrefix, time: number): { step: number; durationMs: number | null } {
    const since = time - this.config.lookbackMs;
    let earlier = 0;
    for (const t of this.history.get(prefix.text) ?? NONE) if (t >= since) earlier++;
    const ladder = this.config.ladder;
    const step = Math.min(earlier, ladder.length - 1);
    return { step, durationMs: ladder[step]! };
  }

  private bound(durationMs: number | null, origin: BanOrigin): number | null {
    const max = this.config.maxImportedMs;
    if (origin !== 'import' || max === null) return durationMs;
    return durationMs === null ? max : Math.min(durationMs, max);
  }

  private live(prefix: IpPrefix, time: number): ActiveBan | undefined {
    const held = this.active.get(prefix.text);
    if (held === undefined) return undefined;
    if (held.until === null || held.until > time) return held;
    this.active.delete(prefix.text);
    return undefined;
  }

  private remember(prefix: IpPrefix, time: number): void {
    const since = time - this.config.lookbackMs;
    const list = this.history.get(prefix.text);
    if (!list) this.history.set(prefix.text, [time]);
    else {
      const kept = list.filter((t) => t >= since);
      kept.push(time);
      this.history.set(prefix.text, kept);
    }
  }

  /** Forgets ended bans and history older than the lookback: amortised, when the map has doubled. */
  private prune(time: number): void {
    // forEach: no [key, value] array per entry, and deleting the visited entry is allowed.
    this.active.forEach((b, k) => {
      if (b.until !== null && b.until <= time) this.active.delete(k);
    });
    const since = time - this.config.lookbackMs;
    this.history.forEach((times, k) => {
      if (times[times.length - 1]! < since) this.history.delete(k);
    });
    this.pruneAt = Math.max(1024, this.active.size * 2);
  }
}

export function isRefusal(r: BanDecision | Refusal): r is Refusal {
  return 'refused' in r;
}
