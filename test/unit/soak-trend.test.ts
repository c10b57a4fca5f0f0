import { describe, expect, it } from 'vitest';
import { resourceProblems, trend, type Sample } from '../../lab/soak-trend.js';

// The soak's judgement of a guard's memory (issue 28), on made-up processes sampled every 5 s
// as the soak samples them.

const T0 = Date.parse('2026-12-05T18:00:00Z');
const MIN = 60_000;

/** A process `pid` sampled every 5 s for `minutes`, its RSS in MB at each minute given by `rss`. */
function life(pid: number, from: number, minutes: number, rss: (minute: number) => number): Sample[] {
  const out: Sample[] = [];
  for (let at = from; at <= from + minutes * MIN; at += 5000) {
    const m = (at - from) / MIN;
    out.push({ pid, at, rssKb: rss(m) * 1024, heapMb: 25, heapTotalMb: 30, externalMb: 78, fds: 40, children: 2 });
  }
  return out;
}
/** A start's warm-up: 10 MB over its first minutes, then its working size, with V8's sawtooth of 2 MB every 4 minutes. */
const warmUpThenFlat = (m: number) => 95 + 10 * (1 - Math.exp(-m / 4)) + 2 * ((m % 4) / 4);

describe('the soak judges each guard by its longest-lived process', () => {
  it('takes the longest life of the PBX, after its first minute, and marks each quarter hour', () => {
    const killed = life(1, T0, 20, warmUpThenFlat);
    const restarted = life(2, T0 + 21 * MIN, 50, warmUpThenFlat);
    const t = trend('pbx-a', [...killed, ...restarted]);
    expect(t.minutes).toBeCloseTo(49, 0);
    expect(t.quarterHours.map((q) => Math.round(q.rssMb))).toEqual([Math.round(warmUpThenFlat(1)), Math.round(warmUpThenFlat(16)), Math.round(warmUpThenFlat(31)), Math.round(warmUpThenFlat(46))]);
    expect(resourceProblems(t)).toEqual([]);
  });

  it('fails open files that pile up and child processes that multiply', () => {
    const leaking = life(1, T0, 30, warmUpThenFlat).map((s, i) => ({ ...s, fds: 40 + Math.floor(i / 20), children: i > 300 ? 9 : 2 }));
    expect(resourceProblems(trend('pbx-b', leaking))).toEqual(["pbx-b's guard: open files 40 -> 58", "pbx-b's guard: up to 9 child processes"]);
  });
});

describe('the soak judges RSS by the later half of that life', () => {
  it("passes a start's warm-up, which the whole life's slope failed (40-minute run of session 13: +34 MB/h over a 12-minute life)", () => {
    const t = trend('pbx-a', life(1, T0, 13, warmUpThenFlat));
    expect(t.rssSlopeMbPerHour).toBeGreaterThan(30);
    expect(resourceProblems(t)).toEqual([]);
  });

  it('fails a leak of 15 MB an hour over two hours, which a bound of 30 MB/h let through', () => {
    const t = trend('pbx-c', life(1, T0, 121, (m) => warmUpThenFlat(m) + (15 * m) / 60));
    expect(t.rssSlopeMbPerHour).toBeLessThan(30);
    expect(resourceProblems(t)).toEqual([expect.stringMatching(/^pbx-c's guard: RSS grows 1[45]\.\d MB\/h over the later half of its 120 minutes \(\d\d\.\d MB\)$/)]);
  });

  it('fails a fast leak in a short life, and leaves a life under 10 minutes unjudged', () => {
    const leak = (m: number) => warmUpThenFlat(m) + (150 * m) / 60;
    expect(resourceProblems(trend('pbx-b', life(1, T0, 13, leak)))).toHaveLength(1);
    expect(resourceProblems(trend('pbx-b', life(1, T0, 9, leak)))).toEqual([]);
  });
});
