import type { IpPrefix } from '../net/ip-prefix.js';

/** Sources that authenticated, and until when they are trusted; ended trust is forgotten. */
export class TrustBook {
  private readonly until = new Map<string, number>();
  private pruneAt = 1024;

  trust(key: IpPrefix, until: number, now: number): void {
    this.until.set(key.text, until);
    if (this.until.size > this.pruneAt) {
      for (const [k, u] of this.until) if (u <= now) this.until.delete(k);
      this.pruneAt = Math.max(1024, this.until.size * 2);
    }
  }

  restore(entries: Iterable<{ source: string; until: number }>): void {
    for (const t of entries) this.until.set(t.source, t.until);
  }

  /** When the key's trust ends, if it is trusted at `time`. */
  trustedUntil(key: IpPrefix, time: number): number | undefined {
    const u = this.until.get(key.text);
    return u !== undefined && u > time ? u : undefined;
  }
}
