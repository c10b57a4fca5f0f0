import type { ActiveBan, BanColumns } from '../ledger/ban-ledger.js';
import { parseIpPrefix } from '../net/ip-prefix.js';
import { keysOverlap, loadPrefixKey } from '../net/prefix-key.js';

// The page's table of bans in force: search, sort and one page, over up to a million bans.
// The ledger's columns are read slot by slot (no object per ban), the matching slots kept in
// one typed array, and a page taken with a bounded heap from the nearer end; a page far from
// both ends (a heap of hundreds of thousands) is selected in place instead.

export type BanSortKey = 'since' | 'until' | 'prefix' | 'reason';

export interface BanQuery {
  /** An address or CIDR (the bans overlapping it), or words of the reason or origin. */
  readonly q: string;
  readonly sort: BanSortKey;
  readonly descending: boolean;
  readonly offset: number;
  readonly limit: number;
}

export interface BanPage {
  /** Bans matching the search. */
  readonly total: number;
  readonly rows: readonly ActiveBan[];
}

export const MAX_PAGE = 500;

type Compare = (a: number, b: number) => number;

function matcher(c: BanColumns, q: string): (slot: number) => boolean {
  const text = q.trim();
  if (text === '') return () => true;
  const asPrefix = parseIpPrefix(text);
  if (asPrefix.ok) {
    const words = new Uint32Array(4);
    const tag = loadPrefixKey(asPrefix.value, words);
    return (slot) => keysOverlap((i) => c.word(slot, i), c.tag(slot), words, tag);
  }
  const wanted = text.toLowerCase();
  // Labels are interned: each distinct one is lowered and searched once.
  const seen = new Map<string, boolean>();
  const has = (label: string) => {
    let found = seen.get(label);
    if (found === undefined) seen.set(label, (found = label.toLowerCase().includes(wanted)));
    return found;
  };
  return (slot) => has(c.label(slot)) || c.origin(slot).includes(wanted);
}

function ascending(c: BanColumns, key: BanSortKey): Compare {
  // Family, address words (unsigned), then length: IPv4 before IPv6, a range before its members.
  const byPrefix: Compare = (a, b) => {
    const ta = c.tag(a);
    const tb = c.tag(b);
    if (ta >= 130 !== tb >= 130) return ta - tb;
    // Words are unsigned (a Uint32Array's): their difference orders them.
    for (let i = 0; i < 4; i++) {
      const d = c.word(a, i) - c.word(b, i);
      if (d !== 0) return d;
    }
    return ta - tb;
  };
  switch (key) {
    case 'since':
      return (a, b) => c.since(a) - c.since(b) || byPrefix(a, b);
    case 'until':
      return (a, b) => {
        const ua = c.until(a);
        const ub = c.until(b);
        return ua === ub ? byPrefix(a, b) : ua < ub ? -1 : 1;
      };
    case 'prefix':
      return byPrefix;
    case 'reason':
      return (a, b) => {
        const la = c.label(a);
        const lb = c.label(b);
        return la === lb ? byPrefix(a, b) : la < lb ? -1 : 1;
      };
  }
}

export function queryBans(c: BanColumns, query: BanQuery): BanPage {
  const match = matcher(c, query.q);
  const up = ascending(c, query.sort);
  const order: Compare = query.descending ? (a, b) => up(b, a) : up;
  let matching = new Int32Array(1024);
  let total = 0;
  for (let slot = 0; slot < c.slotCount; slot++) {
    if (!c.live(slot) || !match(slot)) continue;
    if (total === matching.length) {
      const grown = new Int32Array(matching.length * 2);
      grown.set(matching);
      matching = grown;
    }
    matching[total++] = slot;
  }
  const slots = matching.subarray(0, total);
  const start = Math.min(query.offset, total);
  const end = Math.min(total, start + Math.min(query.limit, MAX_PAGE));
  if (end <= start) return { total, rows: [] };
  // The first `end` in order, or the last `total - start` in reverse: whichever is fewer.
  const fromStart = end <= total - start;
  const heap = fromStart ? end : total - start;
  const page =
    heap > HEAP_AT_MOST || total > SELECT_FROM
      ? selectRange(slots, start, end, order)
      : fromStart
        ? smallest(slots, end, order).slice(start)
        : smallest(slots, total - start, (a, b) => order(b, a))
            .reverse()
            .slice(0, end - start);
  return { total, rows: page.map((slot) => c.ban(slot)) };
}

/** Past this many, a heap costs more than selecting in place (measured at 1M bans: 1.1 s for a heap of 500,000). */
const HEAP_AT_MOST = 20_000;
/**
 * Past this many bans, selection in place wins even for a small page: bans come in slot order,
 * often already in or against the sort's order, and a heap fed its worst order sifts every ban
 * (measured at 1M bans, the last page by address: 188 ms with a heap of 50, 37 ms in place).
 */
const SELECT_FROM = 100_000;

/** Items [start, end) of the order, found by quickselect in place (the array is reordered). */
export function selectRange(items: Int32Array, start: number, end: number, compare: Compare): number[] {
  select(items, start, 0, items.length - 1, compare);
  select(items, end - 1, start, items.length - 1, compare);
  return Array.from(items.subarray(start, end)).sort(compare);
}

/** Puts the k-th item in order at k, smaller ones before it, larger after (Hoare's partition, median of three). */
function select(a: Int32Array, k: number, lo: number, hi: number, compare: Compare): void {
  while (hi > lo) {
    const mid = (lo + hi) >>> 1;
    // Median of three as the pivot: a sorted or reversed slot order stays linear.
    if (compare(a[mid]!, a[lo]!) < 0) swap(a, mid, lo);
    if (compare(a[hi]!, a[lo]!) < 0) swap(a, hi, lo);
    if (compare(a[hi]!, a[mid]!) < 0) swap(a, hi, mid);
    const pivot = a[mid]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (compare(a[i]!, pivot) < 0) i++;
      while (compare(a[j]!, pivot) > 0) j--;
      if (i <= j) swap(a, i++, j--);
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return;
  }
}

function swap(a: Int32Array, i: number, j: number): void {
  const t = a[i]!;
  a[i] = a[j]!;
  a[j] = t;
}

/** The `k` smallest items in order, in one pass with a heap of `k`. */
export function smallest(items: ArrayLike<number>, k: number, compare: Compare): number[] {
  // A max-heap of the k smallest so far: its root is the first to go.
  const heap: number[] = [];
  const above = (i: number, j: number) => compare(heap[i]!, heap[j]!) > 0;
  const swap = (i: number, j: number) => {
    const t = heap[i]!;
    heap[i] = heap[j]!;
    heap[j] = t;
  };
  for (let n = 0; n < items.length; n++) {
    const item = items[n]!;
    if (heap.length < k) {
      heap.push(item);
      for (let i = heap.length - 1; i > 0 && above(i, (i - 1) >> 1); i = (i - 1) >> 1) swap(i, (i - 1) >> 1);
    } else if (k > 0 && compare(item, heap[0]!) < 0) {
      heap[0] = item;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        let top = i;
        if (l < heap.length && above(l, top)) top = l;
        if (l + 1 < heap.length && above(l + 1, top)) top = l + 1;
        if (top === i) break;
        swap(i, top);
        i = top;
      }
    }
  }
  return heap.sort(compare);
}
