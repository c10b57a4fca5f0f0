// What the page charts: failures and bans per minute over the last day, and who attacked most
// (sources and the accounts they tried) over the last hour and day. Pure: time comes in with
// each call. Bounded whatever the attack: 1,440 minutes of two counters, and per hour at most
// TOP_KEPT names of each kind, counted the way lossy counting does (the rarely seen are
// forgotten first, a name seen often is never missed).

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY_MINUTES = 1440;
const DAY_HOURS = 24;
/** Names kept per hour and kind before the least seen are dropped. */
const TOP_KEPT = 2048;

export interface ActivityPoint {
  /** The minute's start, ms since the epoch. */
  readonly minute: number;
  readonly failures: number;
  readonly bans: number;
}

export interface TopEntry {
  readonly name: string;
  readonly failures: number;
}

/** Counts per name for one hour, bounded. */
class HourCounts {
  readonly counts = new Map<string, number>();
  /** Counts at or under this were dropped to make room: each kept count may be this much low. */
  private floor = 0;

  add(name: string): void {
    const n = this.counts.get(name);
    if (n !== undefined) {
      this.counts.set(name, n + 1);
      return;
    }
    if (this.counts.size >= TOP_KEPT) this.makeRoom();
    this.counts.set(name, this.floor + 1);
  }

  private makeRoom(): void {
    // Raise the floor until a quarter of the names go: amortised O(1) per new name.
    while (this.counts.size > (TOP_KEPT * 3) / 4) {
      this.floor++;
      for (const [name, n] of this.counts) if (n <= this.floor) this.counts.delete(name);
    }
  }
}

interface Hour {
  start: number;
  readonly sources: HourCounts;
  readonly accounts: HourCounts;
}

export class Activity {
  private readonly failures = new Uint32Array(DAY_MINUTES);
  private readonly bans = new Uint32Array(DAY_MINUTES);
  /** The minute each ring slot counts (a slot is reset when a new minute reaches it). */
  private readonly minutes = new Float64Array(DAY_MINUTES).fill(-1);
  private readonly hours: Hour[] = [];

  failure(source: string, account: string | undefined, time: number): void {
    const s = this.slot(time);
    if (s !== -1) this.failures[s]!++;
    const hour = this.hour(time);
    hour.sources.add(source);
    if (account !== undefined && account !== '') hour.accounts.add(account);
  }

  ban(time: number): void {
    const s = this.slot(time);
    if (s !== -1) this.bans[s]!++;
  }

  /** One point per minute of the last `minutes` (up to a day), oldest first, empty minutes included. */
  series(now: number, minutes: number): ActivityPoint[] {
    const last = Math.floor(now / MINUTE) * MINUTE;
    const span = Math.min(DAY_MINUTES, Math.max(1, Math.floor(minutes)));
    const points: ActivityPoint[] = [];
    for (let i = span - 1; i >= 0; i--) {
      const minute = last - i * MINUTE;
      const s = (minute / MINUTE) % DAY_MINUTES;
      const counted = this.minutes[s] === minute;
      points.push({ minute, failures: counted ? this.failures[s]! : 0, bans: counted ? this.bans[s]! : 0 });
    }
    return points;
  }

  /** The sources and accounts with the most failures over the last `hours` (1 to 24), most first. */
  top(now: number, hours: number, limit: number): { sources: TopEntry[]; accounts: TopEntry[] } {
    const since = Math.floor(now / HOUR) * HOUR - (Math.min(DAY_HOURS, Math.max(1, Math.floor(hours))) - 1) * HOUR;
    const recent = this.hours.filter((h) => h.start >= since);
    const merge = (pick: (h: Hour) => HourCounts) => {
      const total = new Map<string, number>();
      for (const h of recent) for (const [name, n] of pick(h).counts) total.set(name, (total.get(name) ?? 0) + n);
      return [...total].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, limit).map(([name, failures]) => ({ name, failures }));
    };
    return { sources: merge((h) => h.sources), accounts: merge((h) => h.accounts) };
  }

  /** The ring slot counting `time`'s minute; -1 for a time a day older than the slot's minute. */
  private slot(time: number): number {
    const minute = Math.floor(time / MINUTE) * MINUTE;
    const s = (minute / MINUTE) % DAY_MINUTES;
    if (this.minutes[s]! > minute) return -1;
    if (this.minutes[s] !== minute) {
      this.minutes[s] = minute;
      this.failures[s] = 0;
      this.bans[s] = 0;
    }
    return s;
  }

  private hour(time: number): Hour {
    const start = Math.floor(time / HOUR) * HOUR;
    const newest = this.hours.at(-1);
    if (newest !== undefined && newest.start === start) return newest;
    // A late event (clock step back) counts in the newest hour rather than re-opening an old one.
    if (newest !== undefined && newest.start > start) return newest;
    const hour = { start, sources: new HourCounts(), accounts: new HourCounts() };
    this.hours.push(hour);
    while (this.hours.length > DAY_HOURS || (this.hours[0] !== undefined && this.hours[0].start <= start - DAY_HOURS * HOUR)) this.hours.shift();
    return hour;
  }
}
