import type { FleetPbx } from './fleet-lab.js';

// The soak's view of each guard's resources (issue 28): samples from /proc and the guard's own
// `status`, the trend of its longest-lived process, and what in it fails the run. Pure: the
// samples come in, so a made-up process (warm-up, then flat; a leak) can be judged in a test.

export interface ResourceTrend {
  readonly pbx: FleetPbx;
  /**
   * Over the longest-lived guard process, after its first minute (a start opens its files and
   * fills its heap: not a trend); 0 when no process lived long enough to judge.
   */
  readonly minutes: number;
  readonly rssFirstMb: number;
  readonly rssLastMb: number;
  readonly rssSlopeMbPerHour: number;
  /** Over the later half only: a heap filling up to its working size slows; a leak does not. */
  readonly rssLateSlopeMbPerHour: number;
  /** V8's heap in use, as the guard's `status` says (after its own collections): what RSS holds of live objects. */
  readonly heapFirstMb: number;
  readonly heapLastMb: number;
  readonly heapSlopeMbPerHour: number;
  /** V8's heap reserved, and the memory outside it (Buffers, typed arrays), first and last. */
  readonly heapTotalMb: readonly [number, number];
  readonly externalMb: readonly [number, number];
  /** Every quarter hour of that process's life: what a long run shows levelling off, or not. */
  readonly quarterHours: ReadonlyArray<{ readonly rssMb: number; readonly heapMb: number; readonly heapTotalMb: number }>;
  readonly fdsFirst: number;
  readonly fdsLast: number;
  readonly fdsMax: number;
  readonly childrenMax: number;
}

export interface Sample {
  readonly pid: number;
  readonly at: number;
  readonly rssKb: number;
  /** NaN when the guard did not answer `status` in time. */
  readonly heapMb: number;
  readonly heapTotalMb: number;
  readonly externalMb: number;
  readonly fds: number;
  readonly children: number;
}

/** The trend of one PBX's guard, from all its processes' samples (every 5 s). */
export function trend(pbx: FleetPbx, all: readonly Sample[]): ResourceTrend {
  const byPid = new Map<number, Sample[]>();
  for (const s of all) {
    const own = byPid.get(s.pid);
    if (own) own.push(s);
    else byPid.set(s.pid, [s]);
  }
  const longest = [...byPid.values()].sort((a, b) => b.at(-1)!.at - b[0]!.at - (a.at(-1)!.at - a[0]!.at))[0] ?? [];
  // After its first minute: start-up allocations and the files a start opens are not a trend
  // (a guard SIGKILLed and started again in a short run once read as open files 19 -> 40).
  const xs = longest.filter((s) => s.at - longest[0]!.at >= 60_000);
  const judged = xs.length >= 3;
  const hours = (s: Sample) => (s.at - xs[0]!.at) / 3_600_000;
  const slope = judged ? leastSquares(xs.map((s) => [hours(s), s.rssKb / 1024])) : 0;
  const late = xs.slice(Math.floor(xs.length / 2));
  const heaps = xs.filter((s) => !Number.isNaN(s.heapMb));
  return {
    pbx,
    minutes: judged ? (xs.at(-1)!.at - xs[0]!.at) / 60_000 : 0,
    rssFirstMb: (xs[0]?.rssKb ?? 0) / 1024,
    rssLastMb: (xs.at(-1)?.rssKb ?? 0) / 1024,
    rssSlopeMbPerHour: slope,
    rssLateSlopeMbPerHour: judged && late.length >= 3 ? leastSquares(late.map((s) => [hours(s), s.rssKb / 1024])) : 0,
    heapFirstMb: heaps[0]?.heapMb ?? NaN,
    heapLastMb: heaps.at(-1)?.heapMb ?? NaN,
    heapSlopeMbPerHour: judged && heaps.length >= 3 ? leastSquares(heaps.map((s) => [hours(s), s.heapMb])) : 0,
    heapTotalMb: [heaps[0]?.heapTotalMb ?? NaN, heaps.at(-1)?.heapTotalMb ?? NaN],
    externalMb: [heaps[0]?.externalMb ?? NaN, heaps.at(-1)?.externalMb ?? NaN],
    quarterHours: judged ? quarterHours(xs) : [],
    fdsFirst: xs[0]?.fds ?? 0,
    fdsLast: xs.at(-1)?.fds ?? 0,
    fdsMax: Math.max(0, ...all.map((s) => s.fds)),
    childrenMax: Math.max(0, ...all.map((s) => s.children)),
  };
}

const QUARTER_HOUR_MS = 15 * 60_000;

/** The first sample at or after each quarter hour from the first (heap figures may be NaN: no answer). */
function quarterHours(xs: readonly Sample[]): ResourceTrend['quarterHours'] {
  const marks: Array<ResourceTrend['quarterHours'][number]> = [];
  for (const s of xs) {
    if (s.at - xs[0]!.at >= marks.length * QUARTER_HOUR_MS) marks.push({ rssMb: s.rssKb / 1024, heapMb: s.heapMb, heapTotalMb: s.heapTotalMb });
  }
  return marks;
}

function leastSquares(points: ReadonlyArray<readonly [number, number]>): number {
  const n = points.length;
  const mx = points.reduce((a, p) => a + p[0], 0) / n;
  const my = points.reduce((a, p) => a + p[1], 0) / n;
  const sxy = points.reduce((a, p) => a + (p[0] - mx) * (p[1] - my), 0);
  const sxx = points.reduce((a, p) => a + (p[0] - mx) ** 2, 0);
  return sxx === 0 ? 0 : sxy / sxx;
}

/**
 * RSS may rise over the later half of the longest life no more than this, or no faster than
 * this an hour. Measured on a guard that lived 33 minutes under every fault but its own SIGKILL
 * (docs/reliability.md): it rose 6 MB in its first quarter hour (a start's warm-up, over before
 * the later half of a life of 30 minutes) and not after; its slopes over 10-minute windows spread
 * from -32 to +45 MB/h, about 5 MB either way, V8's sawtooth. So a short life is judged by how
 * much it rose (a fast leak), a long one by how fast (a leak of 10 MB an hour fails a 2-hour run).
 */
const LATE_RISE_MB = 10;
const LATE_SLOPE_MB_PER_HOUR = 10;

/** What in a guard's trend fails the run: descriptors or child processes piling up, RSS growing. */
export function resourceProblems(t: ResourceTrend): string[] {
  const problems: string[] = [];
  if (t.minutes > 0 && t.fdsLast - t.fdsFirst > 10) problems.push(`${t.pbx}'s guard: open files ${t.fdsFirst} -> ${t.fdsLast}`);
  if (t.childrenMax > 8) problems.push(`${t.pbx}'s guard: up to ${t.childrenMax} child processes`);
  const rise = (t.rssLateSlopeMbPerHour * t.minutes) / 2 / 60;
  if (t.minutes >= 10 && rise > LATE_RISE_MB && t.rssLateSlopeMbPerHour > LATE_SLOPE_MB_PER_HOUR) {
    problems.push(`${t.pbx}'s guard: RSS grows ${t.rssLateSlopeMbPerHour.toFixed(1)} MB/h over the later half of its ${t.minutes.toFixed(0)} minutes (${rise.toFixed(1)} MB)`);
  }
  return problems;
}
