import { contains, parseIpPrefix, widen, type IpPrefix } from '../net/ip-prefix.js';

/** The range lengths a range question is asked at most often (the subnet rule's). */
export interface RangeLengths {
  readonly ipv4: number;
  readonly ipv6: number;
}

/**
 * Sources that authenticated, and until when they are trusted; ended trust is forgotten.
 * Also answers "does this range hold a trusted source?" by one lookup for ranges of the
 * indexed lengths: a range holding one is banned on proven failures only.
 */
export class TrustBook {
  private readonly until = new Map<string, { key: IpPrefix; until: number }>();
  /** Range text → the latest trust end of a source inside it. */
  private readonly ranges = new Map<string, number>();
  private pruneAt = 1024;

  constructor(private lengths: RangeLengths) {}

  /** New range lengths (SIGHUP): the index is rebuilt from the trusted sources. */
  indexRanges(lengths: RangeLengths): void {
    if (lengths.ipv4 === this.lengths.ipv4 && lengths.ipv6 === this.lengths.ipv6) return;
    this.lengths = lengths;
    this.reindex();
  }

  trust(key: IpPrefix, until: number, now: number): void {
    this.until.set(key.text, { key, until });
    this.indexOne(key, until);
    if (this.until.size > this.pruneAt) {
      for (const [k, t] of this.until) if (t.until <= now) this.until.delete(k);
      this.reindex();
      this.pruneAt = Math.max(1024, this.until.size * 2);
    }
  }

  /** Trust read back from the store; an entry that no longer parses is dropped. */
  restore(entries: Iterable<{ source: string; until: number }>): void {
    for (const t of entries) {
      const parsed = parseIpPrefix(t.source);
      if (parsed.ok) this.trust(parsed.value, t.until, -Infinity);
    }
  }

  /** The sources trusted at `time` (a store recreated from memory takes them). */
  entries(time: number): Array<{ source: string; until: number; account: null }> {
    const out: Array<{ source: string; until: number; account: null }> = [];
    for (const [source, t] of this.until) if (t.until > time) out.push({ source, until: t.until, account: null });
    return out;
  }

  /** When the key's trust ends, if it is trusted at `time`. */
  trustedUntil(key: IpPrefix, time: number): number | undefined {
    const u = this.until.get(key.text)?.until;
    return u !== undefined && u > time ? u : undefined;
  }

  /** Does the range hold a source trusted at `time`? */
  holdsTrusted(range: IpPrefix, time: number): boolean {
    if (range.length === this.lengthFor(range)) return (this.ranges.get(range.text) ?? -Infinity) > time;
    for (const t of this.until.values()) if (t.until > time && contains(range, t.key)) return true;
    return false;
  }

  private lengthFor(prefix: IpPrefix): number {
    return prefix.family === 4 ? this.lengths.ipv4 : this.lengths.ipv6;
  }

  private indexOne(key: IpPrefix, until: number): void {
    const range = widen(key, this.lengthFor(key)).text;
    if ((this.ranges.get(range) ?? -Infinity) < until) this.ranges.set(range, until);
  }

  private reindex(): void {
    this.ranges.clear();
    for (const t of this.until.values()) this.indexOne(t.key, t.until);
  }
}
