import type { IpPrefix } from '../net/ip-prefix.js';
import { hashPrefixKey, loadPrefixKey, LONGEST_SHORT_TAG } from '../net/prefix-key.js';
import { FLAG_REFERENCED, U16_STRIDE, U16_TAG, U32_KEY, U8_FLAGS, U8_STRIDE, X32_STRIDE, type SourceRecords } from './source-records.js';

/**
 * Prefix → slot number, for up to `max` prefixes whose keys are kept in their records (an IPv4
 * address, or the first 64 bits of an IPv6 prefix, and a tag for family and length): no
 * object and no string per source. Open addressing with linear probing (deletion by backward
 * shift); when full, the CLOCK hand evicts a source not seen since it last passed.
 *
 * Records are used in slot order and never moved: resident memory follows the sources tracked.
 */
export class SlotIndex {
  /** Hash table of slot + 1 (0 is empty); its length is a power of two ≥ 2 × max. */
  private readonly table: Int32Array;
  private readonly mask: number;
  private used = 0;
  private fresh = 0;
  private readonly freed: number[] = [];
  private hand = 0;
  /** Bits 64-127 of the rare keys longer than /64 (beside allow-listed addresses). */
  private readonly longKeys = new Map<number, readonly [number, number]>();
  /** The key being looked at: all 128 bits. */
  private readonly words = new Uint32Array(4);
  // The last prefix object found or inserted: an event's key is looked up several times (score,
  // then forget with its ban), and prefixes are immutable, so identity is enough.
  private lastPrefix: IpPrefix | undefined;
  private lastSlot = -1;

  private readonly max: number;

  constructor(private readonly records: SourceRecords) {
    this.max = records.max;
    let size = 2;
    while (size < this.max * 2) size <<= 1;
    this.table = new Int32Array(size);
    this.mask = size - 1;
  }

  get size(): number {
    return this.used;
  }

  /** The slot of `prefix`, marked as just seen; -1 if it is not tracked. */
  find(prefix: IpPrefix): number {
    if (prefix === this.lastPrefix) {
      this.mark(this.lastSlot);
      return this.lastSlot;
    }
    const tag = this.load(prefix);
    for (let i = this.hash(tag) & this.mask; ; i = (i + 1) & this.mask) {
      const entry = this.table[i]!;
      if (entry === 0) return -1;
      const slot = entry - 1;
      if (this.matches(slot, tag)) {
        this.mark(slot);
        this.lastPrefix = prefix;
        this.lastSlot = slot;
        return slot;
      }
    }
  }

  /**
   * A slot for a prefix that `find` did not return: a free one, or the CLOCK's victim when the
   * table is full. Its record holds what was there before: the caller resets it.
   */
  insert(prefix: IpPrefix): number {
    let slot: number;
    if (this.freed.length > 0) slot = this.freed.pop()!;
    else if (this.fresh < this.max) slot = this.fresh++;
    else {
      slot = this.victim();
      this.unlink(slot);
    }
    const tag = this.load(prefix);
    const { u32, u16 } = this.records;
    u32[slot * X32_STRIDE + U32_KEY] = this.words[0]!;
    u32[slot * X32_STRIDE + U32_KEY + 1] = this.words[1]!;
    // Bits 64-127 are kept aside for the rare keys that have them.
    if (tag > LONGEST_SHORT_TAG) this.longKeys.set(slot, [this.words[2]!, this.words[3]!]);
    u16[slot * U16_STRIDE + U16_TAG] = tag;
    this.mark(slot);
    this.link(slot, tag);
    this.used++;
    this.lastPrefix = prefix;
    this.lastSlot = slot;
    return slot;
  }

  remove(slot: number): void {
    if (this.tagOf(slot) === 0) return;
    this.unlink(slot);
    this.freed.push(slot);
  }

  private victim(): number {
    for (;;) {
      const slot = this.hand;
      this.hand = (this.hand + 1) % this.max;
      if (this.tagOf(slot) === 0) continue;
      const flags = slot * U8_STRIDE + U8_FLAGS;
      if ((this.records.u8[flags]! & FLAG_REFERENCED) === 0) return slot;
      this.records.u8[flags]! &= ~FLAG_REFERENCED;
    }
  }

  /** Loads the prefix's bits into `this.words`; returns its tag (0 marks a free slot). */
  private load(prefix: IpPrefix): number {
    return loadPrefixKey(prefix, this.words);
  }

  private hash(tag: number): number {
    return hashPrefixKey(this.words, tag);
  }

  /** Loads a slot's key into `this.words`; returns its tag. */
  private loadSlot(slot: number): number {
    const w = this.words;
    w[0] = this.records.u32[slot * X32_STRIDE + U32_KEY]!;
    w[1] = this.records.u32[slot * X32_STRIDE + U32_KEY + 1]!;
    const tag = this.tagOf(slot);
    // Only keys longer than /64 have words aside: no map lookup for the others.
    const long = tag > LONGEST_SHORT_TAG ? this.longKeys.get(slot) : undefined;
    w[2] = long ? long[0] : 0;
    w[3] = long ? long[1] : 0;
    return tag;
  }

  private matches(slot: number, tag: number): boolean {
    const k = slot * X32_STRIDE + U32_KEY;
    const keys = this.records.u32;
    const w = this.words;
    if (this.tagOf(slot) !== tag || keys[k] !== w[0] || keys[k + 1] !== w[1]) return false;
    if (tag <= LONGEST_SHORT_TAG) return true;
    const long = this.longKeys.get(slot)!;
    return long[0] === w[2] && long[1] === w[3];
  }

  private link(slot: number, tag: number): void {
    let i = this.hash(tag) & this.mask;
    while (this.table[i] !== 0) i = (i + 1) & this.mask;
    this.table[i] = slot + 1;
  }

  /** Removes the slot from the hash table, shifting later entries of its run back. */
  private unlink(slot: number): void {
    let i = this.hash(this.loadSlot(slot)) & this.mask;
    while (this.table[i] !== slot + 1) i = (i + 1) & this.mask;
    this.table[i] = 0;
    for (let j = (i + 1) & this.mask; this.table[j] !== 0; j = (j + 1) & this.mask) {
      const other = this.table[j]! - 1;
      const home = this.hash(this.loadSlot(other)) & this.mask;
      // Move `other` into the hole unless its home lies cyclically in (i, j].
      if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
        this.table[i] = other + 1;
        this.table[j] = 0;
        i = j;
      }
    }
    this.records.u16[slot * U16_STRIDE + U16_TAG] = 0;
    this.records.u8[slot * U8_STRIDE + U8_FLAGS]! &= ~FLAG_REFERENCED;
    this.longKeys.delete(slot);
    this.used--;
    if (slot === this.lastSlot) this.lastPrefix = undefined;
  }

  private tagOf(slot: number): number {
    return this.records.u16[slot * U16_STRIDE + U16_TAG]!;
  }

  private mark(slot: number): void {
    this.records.u8[slot * U8_STRIDE + U8_FLAGS]! |= FLAG_REFERENCED;
  }
}
