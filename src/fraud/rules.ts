import type { Baseline } from './baseline.js';
import type { Destination } from './destination.js';
import type { FraudAction, FraudConfig } from './fraud-config.js';

/** What a rule sees of one call being dialled. */
export interface DialContext {
  readonly endpoint: string;
  readonly number: string;
  readonly destination: Destination;
  readonly time: number;
  readonly baseline: Baseline;
  /** Past the learning period: what the baseline says counts. */
  readonly learned: boolean;
  /** Calls of this endpoint up, this one included. */
  readonly concurrent: number;
  /** Calls it began in the last minute, and in the last hour, this one included. */
  readonly perMinute: number;
  readonly perHour: number;
  /** Short calls in a row to this same number, within the window, before this one. */
  readonly shortRun: number;
  /** The address the call came from, when Asterisk reported the authentication. */
  readonly source: string | undefined;
  /** The endpoint first used that address less than fraud.new_source ago (or never). */
  readonly sourceIsNew: boolean;
  /** When the endpoint first used that address (undefined: never before this call). */
  readonly sourceFirstSeen: number | undefined;
  /** Wrong passwords on this endpoint's account within the new-source window, and since when. */
  readonly accountFailures: number;
  readonly failuresSince: number;
}

export type FraudRuleName = 'risky-number' | 'new-country' | 'concurrent' | 'per-minute' | 'per-hour' | 'short-calls' | 'new-source' | 'unusual-hour';

interface FraudRule {
  readonly name: FraudRuleName;
  readonly action: (c: FraudConfig) => FraudAction;
  /** Why the call matches, in the admin's words; undefined: it does not. */
  readonly check: (d: DialContext, c: FraudConfig) => string | undefined;
}

type LimitConfig = { readonly action: FraudAction; readonly floor: number; readonly factor: number };

/**
 * A count the endpoint must stay under: `floor` while it learns, then `factor` times the most it
 * reached before (never less than `floor`).
 */
function limitRule(name: FraudRuleName, config: (c: FraudConfig) => LimitConfig, count: (d: DialContext) => number, most: (b: Baseline) => number, what: string): FraudRule {
  return {
    name,
    action: (c) => config(c).action,
    check: (d, c) => {
      const { floor, factor } = config(c);
      const before = most(d.baseline);
      const max = d.learned ? Math.max(floor, Math.ceil(factor * before)) : floor;
      const n = count(d);
      return n > max ? `${n} calls ${what} (allowed ${max}; its most before: ${before})` : undefined;
    },
  };
}

/** The rules, in the order their reasons are listed. */
export const FRAUD_RULES: readonly FraudRule[] = [
  {
    name: 'risky-number',
    action: (c) => c.rules.riskyNumber.action,
    check: ({ destination: d }, c) => (c.rules.riskyNumber.kinds.includes(d.kind) ? `${d.e164} is a ${d.kind.replace(/_/g, '-')} number (${d.country})` : undefined),
  },
  {
    name: 'new-country',
    action: (c) => c.rules.newCountry.action,
    check: ({ destination: d, baseline: b, learned }, c) =>
      learned && b.countries[d.country] === undefined && !c.rules.newCountry.allow.includes(d.country)
        ? `${d.country} is a country it never called (${Object.keys(b.countries).join(', ') || 'none'} in ${b.calls} calls)`
        : undefined,
  },
  limitRule('concurrent', (c) => c.rules.concurrent, (d) => d.concurrent, (b) => b.maxConcurrent, 'at once'),
  limitRule('per-minute', (c) => c.rules.perMinute, (d) => d.perMinute, (b) => b.maxPerMinute, 'within a minute'),
  limitRule('per-hour', (c) => c.rules.perHour, (d) => d.perHour, (b) => b.maxPerHour, 'within an hour'),
  {
    name: 'short-calls',
    action: (c) => c.rules.shortCalls.action,
    check: (d, c) => {
      const r = c.rules.shortCalls;
      return d.shortRun >= r.calls ? `${d.shortRun} calls in a row to ${d.number} shorter than ${r.shorterThanMs / 1000} s each` : undefined;
    },
  },
  {
    name: 'new-source',
    action: (c) => c.rules.newSource.action,
    // New to it since the guessing began: its own phone, failing with a stale password and then
    // fixed, calls from an address it used before the failures.
    check: (d, c) =>
      d.source !== undefined && d.accountFailures >= c.rules.newSource.failures && (d.sourceFirstSeen === undefined || d.sourceFirstSeen >= d.failuresSince)
        ? `placed from ${d.source}, an address it never used before the ${d.accountFailures} wrong passwords on its account since ${new Date(d.failuresSince).toISOString()} (a guessed password)`
        : undefined,
  },
  {
    name: 'unusual-hour',
    action: (c) => c.rules.unusualHour.action,
    check: (d) => {
      const hour = new Date(d.time).getUTCHours();
      return d.learned && d.baseline.hours[hour] === 0 ? `at ${String(hour).padStart(2, '0')}:00 UTC, an hour it never called at` : undefined;
    },
  },
];
