import { parseIpPrefix, widen, type IpPrefix } from '../net/ip-prefix.js';
import { BanTable, ORIGINS, type OriginCode } from './ban-table.js';
import { ExpiryHeap } from './expiry-heap.js';
import type { NeverBan } from '../policy/never-ban.js';
import type { AdminChannel, BanDecision, BanOrigin, BanReason, BanRequest } from '../policy/decision.js';
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
  /** This node's own bans in force at most (policy.max_bans); past it new ones are widened or refused. */
  readonly maxBans: number;
  /**
   * Other nodes' bans in force at most, all together and per node (fleet.max_bans,
   * fleet.max_bans_per_node): a share of their own, so they never take this node's room.
   */
  readonly fleetShare: { readonly all: number; readonly perNode: number };
  readonly atMaxBans: 'widen' | 'refuse';
  /** The range a ban is widened to at the cap, per family. */
  readonly widenTo: { readonly 4: number; readonly 6: number };
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

/** The ban table read slot by slot (BanLedger.columns). */
export interface BanColumns {
  /** Slots are below this. */
  readonly slotCount: number;
  /** Does the slot hold a ban in force? */
  live(slot: number): boolean;
  since(slot: number): number;
  /** Infinity: permanent. */
  until(slot: number): number;
  label(slot: number): string;
  origin(slot: number): BanOrigin;
  /** The prefix's key (net/prefix-key.ts): a tag for family and length, four words of address. */
  tag(slot: number): number;
  word(slot: number, i: number): number;
  ban(slot: number): ActiveBan;
}

/** Why the ledger refused a request: built without text, the policy's refusals cost nothing; see describeRefusal. */
export type Refusal =
  | { readonly refused: 'spared'; readonly target: IpPrefix; readonly by: string }
  | { readonly refused: 'already-banned'; readonly target: IpPrefix; readonly until: number | null }
  | { readonly refused: 'expired'; readonly target: IpPrefix }
  | { readonly refused: 'too-long'; readonly target: IpPrefix }
  | { readonly refused: 'too-wide'; readonly target: IpPrefix; readonly widest: number }
  | { readonly refused: 'full'; readonly target: IpPrefix; readonly max: number }
  | { readonly refused: 'fleet-share'; readonly target: IpPrefix; readonly node: string; readonly key: 'fleet.max_bans' | 'fleet.max_bans_per_node'; readonly max: number };

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
    case 'full':
      return `${r.max} bans are in force (policy.max_bans): ${r.target.text} is not banned; raise policy.max_bans, or let policy.at_max_bans widen new bans to their range`;
    case 'fleet-share':
      return `${r.max} bans from ${r.key === 'fleet.max_bans' ? 'other nodes' : `node ${r.node}`} are in force (${r.key}): ${r.target.text} is not banned here; this node's own bans keep their room`;
  }
}

/** Where accepted changes go: the enforcer (kernel, conntrack, retries) in the daemon; nowhere in a replay. */
export interface LedgerSink {
  ban(decision: BanDecision): void;
  lift(prefix: IpPrefix, time: number, origin: BanOrigin, via?: AdminChannel): void;
}

const NO_SINK: LedgerSink = { ban() {}, lift() {} };

/** How long after its end a ban's element may still be in the kernel (its timeout was set a little later). */
const KERNEL_SLACK_MS = 60_000;

/** Bans ended per request at most (`count` ends every one that is due). */
const EXPIRIES_PER_REQUEST = 64;
/** Records looked at per request to forget ended ones: twice a request's own, so the table shrinks as fast as it grows. */
const SLOTS_SWEPT_PER_REQUEST = 4;

const ORIGIN_CODE: Readonly<Record<BanOrigin, OriginCode>> = { auto: 0, cli: 1, import: 2, fleet: 3 };

/** Nodes given a share of their own; bans from further names (made up by a hostile node) share the last one. */
const NODE_SHARES = 1024;

/**
 * The one owner of the bans in force and of their escalation history, and the one caller of
 * the enforcer. Every ban and unban, whatever its origin (policy, admin, import, restore at
 * start, later the fleet), is a request here: the never-ban lists (by overlap), bounded
 * lengths, the ladder and the cap on bans in force apply to all of them alike, and a refused
 * request changes nothing. Synchronous and clock-free: time comes in with each request.
 *
 * Bans are records of a BanTable (numbers, no object per ban) and end through an expiry heap,
 * so the count in force is exact at O(1) and an ended ban costs nothing after its lookback.
 */
export class BanLedger implements BanBook {
  private readonly table = new BanTable();
  private readonly expiries = new ExpiryHeap();
  private inForce = 0;
  /** Bans in force per share: [0] this node's own, then one per other node (fleet). */
  private readonly shareCounts: number[] = [0];
  private readonly shareOf = new Map<string, number>();
  private readonly shareNames: string[] = [''];
  private full = false;
  private sweepCursor = 0;

  constructor(
    private config: LedgerConfig,
    private readonly neverBan: NeverBan,
    private readonly sink: LedgerSink = NO_SINK,
    /** policy.max_bans was reached: once per spell (again after the count fell below 90 %). */
    private readonly onFull: (inForce: number, time: number) => void = () => {},
  ) {}

  reconfigure(config: LedgerConfig): void {
    this.config = config;
  }

  /** Accepts a ban (its decision is on its way to the kernel) or says why not. */
  request(r: BanRequest): BanDecision | Refusal {
    return this.admit(r, false);
  }

  /** `widened`: a ban widened at the cap, admitted within the cap's headroom. */
  private admit(r: BanRequest, widened: boolean): BanDecision | Refusal {
    const spared = this.neverBan.why(r.target);
    if (spared) return { refused: 'spared', target: r.target, by: spared };
    const widest = this.config.widest[r.target.family];
    if (r.origin !== 'auto' && !r.force && r.target.length < widest) return { refused: 'too-wide', target: r.target, widest };
    this.expire(r.time, EXPIRIES_PER_REQUEST);
    let slot = this.table.find(r.target);
    const live = slot !== -1 && this.isLive(slot, r.time);
    const share = r.origin === 'fleet' ? this.share(r.node ?? '') : 0;
    if (!live && !widened) {
      if (share !== 0) {
        const over = this.overFleetShare(r.target, share);
        if (over) return over;
      } else if (this.shareCounts[0]! >= this.config.maxBans) return this.overCap(r);
    }
    const { step, durationMs: ladderMs } = this.stepAt(slot, r.time);
    const durationMs = r.durationMs === undefined ? ladderMs : this.bound(r.durationMs, r.origin);
    if (durationMs !== null && durationMs <= 0) return { refused: 'expired', target: r.target };
    if (durationMs !== null && !(durationMs <= MAX_DURATION_MS)) return { refused: 'too-long', target: r.target };
    const until = durationMs === null ? Infinity : r.time + durationMs;
    // The policy never extends a ban in force (its ladder would escalate a prefix that is only
    // still failing in a replay, where nothing drops it); an admin or an import may, to a later end.
    if (live && (r.origin === 'auto' || this.table.until(slot) >= until)) {
      return { refused: 'already-banned', target: r.target, until: finite(this.table.until(slot)) };
    }
    // An element of an earlier ban of this prefix may still be in the kernel: the driver replaces it.
    const replaces = slot !== -1 && (live || this.table.until(slot) > r.time - KERNEL_SLACK_MS);
    if (slot === -1) slot = this.table.add(r.target);
    if (live) this.shareCounts[this.table.quota(slot)]!--;
    this.table.setBan(slot, r.time, until, step, ORIGIN_CODE[r.origin], r.note ?? r.reason, share);
    // Another node's ban escalated there and comes with its length: it leaves no history here,
    // so its record goes when it ends (a node publishing millions of short bans costs nothing after).
    if (r.origin !== 'fleet') this.table.addHistory(slot, r.time);
    this.shareCounts[share]!++;
    if (!live) this.inForce++;
    if (until !== Infinity) this.expiries.push(until, slot, this.table.generation(slot));
    this.sweep(r.time);
    const decision: BanDecision = { action: 'ban', target: r.target, time: r.time, durationMs, step, reason: r.reason, origin: r.origin, evidence: r.evidence, note: r.note, replaces, ...(r.via ? { via: r.via } : {}) };
    this.sink.ban(decision);
    return decision;
  }

  /** Lifts a ban in force; undefined (and nothing changes) when the prefix is not banned. */
  lift(prefix: IpPrefix, time: number, origin: BanOrigin, via?: AdminChannel): ActiveBan | undefined {
    const slot = this.table.find(prefix);
    if (slot === -1 || !this.isLive(slot, time)) return undefined;
    const held = this.activeBan(slot);
    this.endBan(slot);
    this.sink.lift(prefix, time, origin, via);
    return held;
  }

  /**
   * What the store remembered at start: bans in force and the escalation history. The caller
   * makes the kernel match them in one transaction; nothing is sent to the sink.
   */
  restore(bans: Iterable<ActiveBan>, history: ReadonlyMap<string, readonly number[]>): void {
    for (const [text, times] of history) {
      const prefix = parseIpPrefix(text);
      if (!prefix.ok) continue;
      const slot = this.slotFor(prefix.value);
      for (const t of times) this.table.addHistory(slot, t);
    }
    for (const b of bans) {
      const slot = this.slotFor(b.prefix);
      const until = b.until ?? Infinity;
      if (this.table.active(slot)) this.shareCounts[this.table.quota(slot)]!--;
      else this.inForce++;
      // A fleet ban's label starts with the node that decided it (wireFleet's note).
      const share = b.origin === 'fleet' ? this.share(b.reason.split(':')[0]!) : 0;
      this.shareCounts[share]!++;
      this.table.setBan(slot, b.since, until, b.step, ORIGIN_CODE[b.origin], b.reason, share);
      if (until !== Infinity) this.expiries.push(until, slot, this.table.generation(slot));
    }
  }

  /** The prefix's own ban in force at `time`, if any. */
  banOf(prefix: IpPrefix, time: number): ActiveBan | undefined {
    const slot = this.table.find(prefix);
    return slot === -1 || !this.isLive(slot, time) ? undefined : this.activeBan(slot);
  }

  /** When the prefix's ban ends (Infinity: permanent), if it is banned at `time`. */
  bannedUntil(prefix: IpPrefix, time: number): number | undefined {
    const slot = this.table.find(prefix);
    if (slot === -1 || !this.table.active(slot)) return undefined;
    const until = this.table.until(slot);
    return until > time ? until : undefined;
  }

  /** The bans in force at `time`. Each is made as it is visited: a million cost no memory held. */
  *bans(time: number): IterableIterator<ActiveBan> {
    for (const slot of this.table.slots()) if (this.table.active(slot) && this.table.until(slot) > time) yield this.activeBan(slot);
  }

  /**
   * The bans in force as columns, read slot by slot: a query over a million of them (the web
   * page's table) makes no object per ban. Valid until the ledger next changes.
   */
  columns(time: number): BanColumns {
    const t = this.table;
    return {
      slotCount: t.slotCount,
      live: (slot) => t.inUse(slot) && this.isLive(slot, time),
      since: (slot) => t.since(slot),
      until: (slot) => t.until(slot),
      label: (slot) => t.label(slot),
      origin: (slot) => ORIGINS[t.origin(slot)],
      tag: (slot) => t.tag(slot),
      word: (slot, i) => t.word(slot, i),
      ban: (slot) => this.activeBan(slot),
    };
  }

  /** Records held: bans in force and ended ones kept for their escalation history. */
  get records(): number {
    return this.table.size;
  }

  /** Other nodes' bans in force, all together and for the nodes holding the most. */
  fleetShares(): { all: number; top: Array<{ node: string; bans: number }> } {
    const top = this.shareNames.slice(1).map((node, i) => ({ node, bans: this.shareCounts[i + 1]! })).filter((n) => n.bans > 0);
    top.sort((a, b) => b.bans - a.bans);
    return { all: this.inForce - this.shareCounts[0]!, top: top.slice(0, 10) };
  }

  /** How many bans are in force at `time`: O(1) (plus the bans that ended since the last call). */
  count(time: number): number {
    this.expire(time, Infinity);
    return this.inForce;
  }

  /** The escalation step and ban length a new ban of `prefix` would get at `time`. */
  nextStep(prefix: IpPrefix, time: number): { step: number; durationMs: number | null } {
    return this.stepAt(this.table.find(prefix), time);
  }

  private stepAt(slot: number, time: number): { step: number; durationMs: number | null } {
    const earlier = slot === -1 ? 0 : this.table.historySince(slot, time - this.config.lookbackMs);
    const ladder = this.config.ladder;
    const step = Math.min(earlier, ladder.length - 1);
    return { step, durationMs: ladder[step]! };
  }

  /**
   * A new ban while `policy.max_bans` are in force: widened to its /24 or /48 when the cap
   * policy says so (one ban covers the swarm's neighbours) and room is left for those, else
   * refused. The admins hear of it once per spell (onFull).
   */
  private overCap(r: BanRequest): BanDecision | Refusal {
    if (!this.full) {
      this.full = true;
      this.onFull(this.inForce, r.time);
    }
    const range = this.config.widenTo[r.target.family];
    const headroom = this.shareCounts[0]! < this.config.maxBans + Math.ceil(this.config.maxBans / 10);
    if (this.config.atMaxBans === 'widen' && headroom && r.target.length > range) {
      const wider = widen(r.target, range);
      if (this.bannedUntil(wider, r.time) !== undefined) return { refused: 'already-banned', target: wider, until: finite(this.bannedUntil(wider, r.time)!) };
      const note = `${r.note ?? r.reason}; widened from ${r.target.text}: policy.max_bans reached`;
      return this.admit({ ...r, target: wider, note }, true);
    }
    return { refused: 'full', target: r.target, max: this.config.maxBans };
  }

  /** The share a node's bans count against: one per name, up to NODE_SHARES. */
  private share(node: string): number {
    const known = this.shareOf.get(node);
    if (known !== undefined) return known;
    if (this.shareNames.length > NODE_SHARES) return this.shareNames.length - 1;
    const id = this.shareNames.length;
    this.shareNames.push(this.shareNames.length === NODE_SHARES ? '(further node names)' : node);
    this.shareCounts.push(0);
    this.shareOf.set(node, id);
    return id;
  }

  /** Another node's ban while its share, or the fleet's, is full: refused, this node's room kept. */
  private overFleetShare(target: IpPrefix, share: number): Refusal | undefined {
    const { all, perNode } = this.config.fleetShare;
    if (this.inForce - this.shareCounts[0]! >= all) return { refused: 'fleet-share', target, node: this.shareNames[share]!, key: 'fleet.max_bans', max: all };
    if (this.shareCounts[share]! >= perNode) return { refused: 'fleet-share', target, node: this.shareNames[share]!, key: 'fleet.max_bans_per_node', max: perNode };
    return undefined;
  }

  private bound(durationMs: number | null, origin: BanOrigin): number | null {
    const max = this.config.maxImportedMs;
    // What comes from outside (a file, another node) is held to the longest ban the ladder gives.
    if ((origin !== 'import' && origin !== 'fleet') || max === null) return durationMs;
    return durationMs === null ? max : Math.min(durationMs, max);
  }

  private isLive(slot: number, time: number): boolean {
    return this.table.active(slot) && this.table.until(slot) > time;
  }

  private slotFor(prefix: IpPrefix): number {
    const slot = this.table.find(prefix);
    return slot === -1 ? this.table.add(prefix) : slot;
  }

  private activeBan(slot: number): ActiveBan {
    const until = this.table.until(slot);
    return { prefix: this.table.prefix(slot), since: this.table.since(slot), until: until === Infinity ? null : until, reason: this.table.label(slot), origin: ORIGINS[this.table.origin(slot)], step: this.table.step(slot) };
  }

  private endBan(slot: number): void {
    this.table.end(slot);
    this.inForce--;
    this.shareCounts[this.table.quota(slot)]!--;
    if (this.full && this.shareCounts[0]! < this.config.maxBans * 0.9) this.full = false;
  }

  /**
   * Ends the bans whose time is up, soonest first, at most `limit` (a request must not pay for
   * a hundred thousand imported bans ending in the same second; `count` ends them all). A
   * queued end of a lifted or replaced ban is skipped.
   */
  private expire(time: number, limit: number): void {
    const heap = this.expiries;
    for (let n = 0; n < limit && heap.peekUntil() <= time; n++) {
      const slot = heap.peekSlot();
      const stale = heap.peekGeneration() !== this.table.generation(slot) || !this.table.active(slot) || this.table.until(slot) !== heap.peekUntil();
      heap.pop();
      if (!stale) this.endBan(slot);
    }
  }

  /**
   * Forgets records with no ban in force and no start within the lookback, a few slots per
   * request round the table: O(1) each time, where a sweep of the whole table at once would
   * stall the event path for milliseconds at a million records.
   */
  private sweep(time: number): void {
    const since = time - this.config.lookbackMs;
    for (let n = 0; n < SLOTS_SWEPT_PER_REQUEST; n++) {
      const slot = this.sweepCursor;
      this.sweepCursor = slot + 1 >= this.table.slotCount ? 0 : slot + 1;
      if (this.table.inUse(slot) && !this.table.active(slot) && this.table.lastStart(slot) < since) this.table.remove(slot);
    }
  }
}

function finite(until: number): number | null {
  return until === Infinity ? null : until;
}

export function isRefusal(r: BanDecision | Refusal): r is Refusal {
  return 'refused' in r;
}
