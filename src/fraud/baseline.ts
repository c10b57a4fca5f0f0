// What is normal for one endpoint, learned from its own calls and kept in the store: a few
// hundred bytes of counts, bounded whatever the endpoint does.

const MAX_COUNTRIES = 64;
const MAX_KINDS = 16;
const MAX_SOURCES = 16;

export interface Baseline {
  /** The first call learned. */
  since: number;
  calls: number;
  /** Calls per destination country (ISO code, or `+881` for non-geographic codes). */
  countries: Record<string, number>;
  /** Calls per number kind (fixed_line, mobile...). */
  kinds: Record<string, number>;
  /** Calls per hour of the day, UTC. */
  hours: number[];
  maxConcurrent: number;
  /** The most calls it began within one minute, and within one hour. */
  maxPerMinute: number;
  maxPerHour: number;
  /** Addresses it authenticated from (calls and registrations) → when first seen. */
  sources: Record<string, number>;
}

export function emptyBaseline(time: number): Baseline {
  return { since: time, calls: 0, countries: {}, kinds: {}, hours: new Array<number>(24).fill(0), maxConcurrent: 0, maxPerMinute: 0, maxPerHour: 0, sources: {} };
}

/** Counts one more for a key, refusing a new key past `max` (an endpoint calling 200 countries). */
function bump(counts: Record<string, number>, key: string, max: number): void {
  if (counts[key] !== undefined) counts[key]++;
  else if (Object.keys(counts).length < max) counts[key] = 1;
}

export function learnCall(b: Baseline, call: { country: string; kind: string; time: number; concurrent: number; perMinute: number; perHour: number }): void {
  if (b.calls === 0) b.since = call.time;
  b.calls++;
  bump(b.countries, call.country, MAX_COUNTRIES);
  bump(b.kinds, call.kind, MAX_KINDS);
  b.hours[new Date(call.time).getUTCHours()]!++;
  b.maxConcurrent = Math.max(b.maxConcurrent, call.concurrent);
  b.maxPerMinute = Math.max(b.maxPerMinute, call.perMinute);
  b.maxPerHour = Math.max(b.maxPerHour, call.perHour);
}

/** Remembers an address the endpoint used; past MAX_SOURCES the one first seen longest ago goes. */
export function learnSource(b: Baseline, source: string, time: number): void {
  if (b.sources[source] !== undefined) return;
  const known = Object.keys(b.sources);
  if (known.length >= MAX_SOURCES) {
    const oldest = known.reduce((x, y) => (b.sources[x]! <= b.sources[y]! ? x : y));
    delete b.sources[oldest];
  }
  b.sources[source] = time;
}

/**
 * A baseline from the store, checked field by field: a damaged row is dropped (the endpoint
 * learns again), never trusted into the rules.
 */
export function parseBaseline(json: string): Baseline | undefined {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const num = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x >= 0;
  const counts = (x: unknown, max: number) => typeof x === 'object' && x !== null && !Array.isArray(x) && Object.keys(x).length <= max && Object.values(x).every(num);
  if (!num(o.since) || !num(o.calls) || !num(o.maxConcurrent) || !num(o.maxPerMinute) || !num(o.maxPerHour)) return undefined;
  if (!counts(o.countries, MAX_COUNTRIES) || !counts(o.kinds, MAX_KINDS) || !counts(o.sources, MAX_SOURCES)) return undefined;
  if (!Array.isArray(o.hours) || o.hours.length !== 24 || !o.hours.every(num)) return undefined;
  return o as unknown as Baseline;
}
