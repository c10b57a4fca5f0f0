import type { Logger } from 'pino';
import type { Config } from './config/schema.js';
import { Scoreboard, type ScoringConfig } from './detect/scoreboard.js';
import { BanLedger, type LedgerConfig, type LedgerSink } from './ledger/ban-ledger.js';
import type { IpPrefix } from './net/ip-prefix.js';
import { Pipeline, ProblemCounter } from './pipeline.js';
import { NeverBan } from './policy/never-ban.js';
import type { PolicyConfig } from './policy/policy-config.js';
import { Policy } from './policy/policy.js';
import type { FraudConfig } from './fraud/fraud-config.js';
import { FraudGuard } from './fraud/fraud-guard.js';
import type { CountryCode } from 'libphonenumber-js/max';

/** The pure part of the guard: events → scores → rules → ban ledger. The same for `run`, `replay` and the benchmarks. */
export interface Core {
  readonly pipeline: Pipeline;
  readonly policy: Policy;
  readonly scoreboard: Scoreboard;
  readonly ledger: BanLedger;
  /** The toll-fraud guard, when the config has a `fraud:` section. */
  readonly fraud: FraudGuard | undefined;
}

/** Ranges tracked at once by the range scores (a record of 64 bytes each); the least recently failed go first. */
const MAX_TRACKED_RANGES = 65_536;

/** The range board scores like the sources' board, on fewer records. */
export function rangeScoringConfig(config: Config): ScoringConfig {
  return { ...scoringConfig(config), maxSources: Math.min(MAX_TRACKED_RANGES, config.detect.max_sources) };
}

export function scoringConfig(config: Config): ScoringConfig {
  const d = config.detect;
  return { halfLifeMs: d.half_life, slowHalfLifeMs: d.slow_half_life, weights: d.weights, maxSources: d.max_sources };
}

export function policyConfig(config: Config): PolicyConfig {
  const { detect: d, policy: p, trust: t } = config;
  return {
    threshold: d.threshold,
    slowThreshold: d.slow_threshold,
    ipv6PrefixLength: d.ipv6_prefix,
    trust: { durationMs: t.duration, factor: t.factor },
    guessedPasswordFailures: t.guessed_password_failures,
    decoys: d.decoys,
    subnet: { enabled: p.subnet.enabled, count: p.subnet.count, ipv4Length: p.subnet.ipv4_prefix, ipv6Length: p.subnet.ipv6_prefix, lookbackMs: p.lookback },
    range: {
      enabled: p.range.enabled,
      threshold: p.range.threshold ?? 2 * d.threshold,
      minSources: p.range.min_sources,
      floodFailures: p.range.flood_window === 0 ? 0 : (p.range.flood_failures ?? d.threshold),
      floodWindowMs: p.range.flood_window,
      ipv4Length: p.range.ipv4_prefix,
      ipv6Length: p.range.ipv6_prefix,
      ladder: p.range.ladder,
    },
    accountAttack: { enabled: p.account_attack.enabled, sources: p.account_attack.sources, windowMs: p.account_attack.window, quietMs: p.account_attack.quiet },
  };
}

export function fraudConfig(config: Config): FraudConfig | undefined {
  const f = config.fraud;
  if (!f) return undefined;
  const r = f.rules;
  return {
    plan: { country: f.country as CountryCode, outsidePrefix: f.outside_prefix, minDigits: f.min_digits },
    learning: { periodMs: f.learning.period, calls: f.learning.calls },
    ignore: f.ignore_endpoints,
    newSourceMs: r.new_source.window,
    ipv6PrefixLength: config.detect.ipv6_prefix,
    rules: {
      riskyNumber: r.risky_number,
      newCountry: r.new_country,
      concurrent: r.concurrent,
      perMinute: r.per_minute,
      perHour: r.per_hour,
      shortCalls: { action: r.short_calls.action, calls: r.short_calls.calls, shorterThanMs: r.short_calls.shorter_than, windowMs: r.short_calls.window },
      newSource: { action: r.new_source.action, failures: r.new_source.failures, windowMs: r.new_source.window },
      unusualHour: r.unusual_hour,
    },
  };
}

export function ledgerConfig(config: Config): LedgerConfig {
  const p = config.policy;
  const longest = p.ladder.includes(null) ? null : Math.max(...(p.ladder as number[]));
  return {
    ladder: p.ladder,
    lookbackMs: p.lookback,
    maxImportedMs: p.max_imported_bantime === undefined ? longest : p.max_imported_bantime,
    widest: { 4: p.widest_ban.ipv4, 6: p.widest_ban.ipv6 },
    maxBans: p.max_bans,
    fleetShare: { all: config.fleet?.max_bans ?? 200_000, perNode: config.fleet?.max_bans_per_node ?? 50_000 },
    atMaxBans: p.at_max_bans,
    widenTo: { 4: p.subnet.ipv4_prefix, 6: p.subnet.ipv6_prefix },
  };
}

export interface CoreOptions {
  /** EventTV (replay) or arrival time (live) as the events' clock. */
  readonly useEventTime: boolean;
  /** Never banned whatever the config says: the AMI host. */
  readonly neverBan?: readonly IpPrefix[];
  /** Where the ledger's accepted changes go (the enforcer); none in a replay. */
  readonly sink?: LedgerSink;
  /** policy.max_bans was reached (the daemon alerts). */
  readonly onFull?: (inForce: number, time: number) => void;
}

export function buildCore(config: Config, log: Logger, o: CoreOptions): Core {
  const scoreboard = new Scoreboard(scoringConfig(config));
  const neverBan = new NeverBan(config.policy.allow, o.neverBan ?? []);
  const ledger = new BanLedger(ledgerConfig(config), neverBan, o.sink, o.onFull);
  const policy = new Policy(policyConfig(config), scoreboard, neverBan, ledger, new Scoreboard(rangeScoringConfig(config)));
  const fc = fraudConfig(config);
  const fraud = fc ? new FraudGuard(fc, ledger) : undefined;
  return { pipeline: new Pipeline(policy, new ProblemCounter(log), o.useEventTime, fraud), policy, scoreboard, ledger, fraud };
}
