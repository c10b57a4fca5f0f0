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
  /** Calls it began in the last minute, this one included. */
  readonly perMinute: number;
  /** Short calls in a row to this same number, within the window, before this one. */
  readonly shortRun: number;
  /** The address the call came from, when Asterisk reported the authentication. */
  readonly source: string | undefined;
  /** The endpoint first used that address less than fraud.new_source ago (or never). */
  readonly sourceIsNew: boolean;
  /** Wrong passwords on this endpoint's account within the new-source window. */
  readonly accountFailures: number;
}

export type FraudRuleName = 'risky-number' | 'new-country' | 'concurrent' | 'per-minute' | 'short-calls' | 'new-source' | 'unusual-hour';

interface FraudRule {
  readonly name: FraudRuleName;
  readonly action: (c: FraudConfig) => FraudAction;
  /** Why the call matches, in the admin's words; undefined: it does not. */
  readonly check: (d: DialContext, c: FraudConfig) => string | undefined;
}

const limit = (floor: number, factor: number, learnedMax: number, learned: boolean) => (learned ? Math.max(floor, Math.ceil(factor * learnedMax)) : floor);

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
  {
    name: 'concurrent',
    action: (c) => c.rules.concurrent.action,
    check: (d, c) => {
      const { floor, factor } = c.rules.concurrent;
      const max = limit(floor, factor, d.baseline.maxConcurrent, d.learned);
      return d.concurrent > max ? `${d.concurrent} calls at once (allowed ${max}; its most before: ${d.baseline.maxConcurrent})` : undefined;
    },
  },
  {
    name: 'per-minute',
    action: (c) => c.rules.perMinute.action,
    check: (d, c) => {
      const { floor, factor } = c.rules.perMinute;
      const max = limit(floor, factor, d.baseline.maxPerMinute, d.learned);
      return d.perMinute > max ? `${d.perMinute} calls within a minute (allowed ${max}; its most before: ${d.baseline.maxPerMinute})` : undefined;
    },
  },
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
    check: (d, c) =>
      d.source !== undefined && d.sourceIsNew && d.accountFailures >= c.rules.newSource.failures
        ? `placed from ${d.source}, an address it never used before, after ${d.accountFailures} wrong passwords on its account (a guessed password)`
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
