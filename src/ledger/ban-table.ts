import type { IpPrefix } from '../net/ip-prefix.js';
import { hashPrefixKey, loadPrefixKey, prefixOfKey } from '../net/prefix-key.js';

/** Ban start times kept per prefix: enough for a ladder of HISTORY + 1 steps (policy.ladder allows 8). */
export const HISTORY = 7;

/** Origins as numbers: a record holds no string. */
export const ORIGINS = ['auto', 'cli', 'import', 'fleet'] as const;
export type OriginCode = 0 | 1 | 2 | 3;

// Per record: key 16 B, tag 2, since 8, until 8, history 28, label 4, quota 2, generation 4, meta 4
// (step, origin, active, history length); the hash table 8 at most. About 84 bytes, off the JS heap.
const META = 4;
const M_STEP = 0;
const M_ORIGIN = 1;
const M_ACTIVE = 2;
const M_HISTORY = 3;

/**
 * The ban ledger's records, one per prefix banned within the lookback, as columns of typed
 * arrays: no object and no string per ban, so a million bans cost ~90 MB, not a gigabyte, and
 * the garbage collector never walks them. Prefix → slot by open addressing (linear probing,
 * deletion by backward shift); columns double when full. Labels (a ban's reason or admin note)
 * are interned: a million imported bans share a handful of texts.
 */
export class BanTable {
  private capacity: number;
  private words: Uint32Array;
  private tags: Uint16Array;
  private sinceCol: Float64Array;
  private untilCol: Float64Array;
  private historyCol: Uint32Array;
  private labels: Uint32Array;
  private quotas: Uint16Array;
  private generations: Uint32Array;
  private meta: Uint8Array;
  private table: Int32Array;
  private mask: number;
  private fresh = 0;
  private readonly freed: number[] = [];
  private used = 0;
  private readonly key = new Uint32Array(4);
  private readonly labelIds = new Map<string, number>();
  private readonly labelTexts: string[] = [];

  constructor(initialCapacity = 1024) {
    this.capacity = initialCapacity;
    this.words = new Uint32Array(initialCapacity * 4);
    this.tags = new Uint16Array(initialCapacity);
    this.sinceCol = new Float64Array(initialCapacity);
    this.untilCol = new Float64Array(initialCapacity);
    this.historyCol = new Uint32Array(initialCapacity * HISTORY);
    this.labels = new Uint32Array(initialCapacity);
    this.quotas = new Uint16Array(initialCapacity);
    this.generations = new Uint32Array(initialCapacity);
    this.meta = new Uint8Array(initialCapacity * META);
    this.table = new Int32Array(initialCapacity * 2);
    this.mask = this.table.length - 1;
  }

  /** Records held (bans in force and ended ones kept for their history). */
  get size(): number {
    return this.used;
  }

  /** The slot of the prefix's record, or -1. */
  find(prefix: IpPrefix): number {
    const tag = loadPrefixKey(prefix, this.key);
    for (let i = hashPrefixKey(this.key, tag) & this.mask; ; i = (i + 1) & this.mask) {
      const entry = this.table[i]!;
      if (entry === 0) return -1;
      if (this.matches(entry - 1, tag)) return entry - 1;
    }
  }

  /** A new, empty record for a prefix `find` did not return. */
  add(prefix: IpPrefix): number {
    if (this.used === this.capacity) this.grow();
    const slot = this.freed.length > 0 ? this.freed.pop()! : this.fresh++;
    const tag = loadPrefixKey(prefix, this.key);
    this.words.set(this.key, slot * 4);
    this.tags[slot] = tag;
    this.generations[slot]!++;
    this.meta.fill(0, slot * META, slot * META + META);
    this.link(slot, hashPrefixKey(this.key, tag));
    this.used++;
    return slot;
  }

  remove(slot: number): void {
    if (this.tags[slot] === 0) return;
    this.unlink(slot);
    this.tags[slot] = 0;
    this.freed.push(slot);
    this.used--;
  }

  prefix(slot: number): IpPrefix {
    return prefixOfKey(this.words, slot * 4, this.tags[slot]!);
  }

  /** Changes whenever the slot is given to another prefix: an expiry queued for the old one is stale. */
  generation(slot: number): number {
    return this.generations[slot]!;
  }

  /** Writes a ban in force. `until`: Infinity for a permanent one; `quota`: whose share of the cap it takes (0: this node's). */
  setBan(slot: number, since: number, until: number, step: number, origin: OriginCode, label: string, quota = 0): void {
    this.quotas[slot] = quota;
    this.sinceCol[slot] = since;
    this.untilCol[slot] = until;
    const m = slot * META;
    this.meta[m + M_STEP] = step;
    this.meta[m + M_ORIGIN] = origin;
    this.meta[m + M_ACTIVE] = 1;
    this.labels[slot] = this.intern(label);
  }

  end(slot: number): void {
    this.meta[slot * META + M_ACTIVE] = 0;
  }

  active(slot: number): boolean {
    return this.meta[slot * META + M_ACTIVE] === 1;
  }

  since(slot: number): number {
    return this.sinceCol[slot]!;
  }

  /** Infinity: permanent. */
  until(slot: number): number {
    return this.untilCol[slot]!;
  }

  step(slot: number): number {
    return this.meta[slot * META + M_STEP]!;
  }

  origin(slot: number): OriginCode {
    return this.meta[slot * META + M_ORIGIN] as OriginCode;
  }

  quota(slot: number): number {
    return this.quotas[slot]!;
  }

  label(slot: number): string {
    return this.labelTexts[this.labels[slot]!]!;
  }

  /** Remembers a ban's start (whole seconds), the newest HISTORY ones. */
  addHistory(slot: number, time: number): void {
    const m = slot * META + M_HISTORY;
    const n = this.meta[m]!;
    const at = slot * HISTORY;
    if (n === HISTORY) this.historyCol.copyWithin(at, at + 1, at + HISTORY);
    this.historyCol[at + Math.min(n, HISTORY - 1)] = Math.floor(time / 1000);
    if (n < HISTORY) this.meta[m] = n + 1;
  }

  /** How many remembered starts are at or after `since` (ms). */
  historySince(slot: number, since: number): number {
    const n = this.meta[slot * META + M_HISTORY]!;
    const at = slot * HISTORY;
    const s = Math.floor(since / 1000);
    let count = 0;
    for (let i = 0; i < n; i++) if (this.historyCol[at + i]! >= s) count++;
    return count;
  }

  /** The newest remembered start (ms, whole seconds), or -Infinity. */
  lastStart(slot: number): number {
    const n = this.meta[slot * META + M_HISTORY]!;
    return n === 0 ? -Infinity : this.historyCol[slot * HISTORY + n - 1]! * 1000;
  }

  /** Slots handed out so far (records are below it). */
  get slotCount(): number {
    return this.fresh;
  }

  /** The slot's key: its tag (family and length, 0: free) and the 4 words of its address. */
  tag(slot: number): number {
    return this.tags[slot]!;
  }

  word(slot: number, i: number): number {
    return this.words[slot * 4 + i]!;
  }

  inUse(slot: number): boolean {
    return this.tags[slot] !== 0;
  }

  /** Every slot holding a record, in slot order (the caller may end or remove the visited one). */
  *slots(): IterableIterator<number> {
    for (let slot = 0; slot < this.fresh; slot++) if (this.tags[slot] !== 0) yield slot;
  }

  // Thousands of distinct admin notes are kept; past that a ban keeps its reason's name only
  // (the store has every note): an import must not make a string per ban.
  private intern(label: string): number {
    let id = this.labelIds.get(label);
    if (id !== undefined) return id;
    if (this.labelTexts.length >= 65_536) return this.intern('import');
    id = this.labelTexts.length;
    this.labelTexts.push(label);
    this.labelIds.set(label, id);
    return id;
  }

  private matches(slot: number, tag: number): boolean {
    if (this.tags[slot] !== tag) return false;
    const w = this.words;
    const k = this.key;
    const at = slot * 4;
    return w[at] === k[0] && w[at + 1] === k[1] && w[at + 2] === k[2] && w[at + 3] === k[3];
  }

  private hashOf(slot: number): number {
    this.key.set(this.words.subarray(slot * 4, slot * 4 + 4));
    return hashPrefixKey(this.key, this.tags[slot]!);
  }

  private link(slot: number, hash: number): void {
    let i = hash & this.mask;
    while (this.table[i] !== 0) i = (i + 1) & this.mask;
    this.table[i] = slot + 1;
  }

  /** Removes the slot from the hash table, shifting later entries of its run back. */
  private unlink(slot: number): void {
    let i = this.hashOf(slot) & this.mask;
    while (this.table[i] !== slot + 1) i = (i + 1) & this.mask;
    this.table[i] = 0;
    for (let j = (i + 1) & this.mask; this.table[j] !== 0; j = (j + 1) & this.mask) {
      const other = this.table[j]! - 1;
      const home = this.hashOf(other) & this.mask;
      // Move `other` into the hole unless its home lies cyclically in (i, j].
      if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
        this.table[i] = other + 1;
        this.table[j] = 0;
        i = j;
      }
    }
  }

  private grow(): void {
    const capacity = this.capacity * 2;
    const widen = <T extends Uint8Array | Uint16Array | Uint32Array | Float64Array>(old: T, make: (n: number) => T, per: number): T => {
      const next = make(capacity * per);
      next.set(old);
      return next;
    };
    this.words = widen(this.words, (n) => new Uint32Array(n), 4);
    this.tags = widen(this.tags, (n) => new Uint16Array(n), 1);
    this.sinceCol = widen(this.sinceCol, (n) => new Float64Array(n), 1);
    this.untilCol = widen(this.untilCol, (n) => new Float64Array(n), 1);
    this.historyCol = widen(this.historyCol, (n) => new Uint32Array(n), HISTORY);
    this.labels = widen(this.labels, (n) => new Uint32Array(n), 1);
    this.quotas = widen(this.quotas, (n) => new Uint16Array(n), 1);
    this.generations = widen(this.generations, (n) => new Uint32Array(n), 1);
    this.meta = widen(this.meta, (n) => new Uint8Array(n), META);
    this.capacity = capacity;
    this.table = new Int32Array(capacity * 2);
    this.mask = this.table.length - 1;
    for (let slot = 0; slot < this.fresh; slot++) if (this.tags[slot] !== 0) this.link(slot, this.hashOf(slot));
  }
}
