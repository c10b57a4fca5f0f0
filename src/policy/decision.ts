import type { IpPrefix } from '../net/ip-prefix.js';
import type { Evidence } from '../detect/scoreboard.js';

export type BanReason = 'brute-force' | 'slow-brute-force' | 'guessed-password' | 'tripwire' | 'subnet' | 'manual' | 'import';

export interface BanDecision {
  readonly action: 'ban';
  readonly target: IpPrefix;
  /** When the deciding event happened (event clock). */
  readonly time: number;
  /** null: permanent. */
  readonly durationMs: number | null;
  /** Escalation step: 0 for a first offense in the lookback. */
  readonly step: number;
  readonly reason: BanReason;
  readonly evidence: Evidence | undefined;
}

export type AlertReason = 'stale-password' | 'trusted-failing' | 'guessed-password' | 'distributed-attack' | 'decoy-authenticated';

/** Something the admin must hear about that is not (only) a ban. */
export interface AlertDecision {
  readonly action: 'alert';
  readonly severity: 'warning' | 'critical';
  readonly reason: AlertReason;
  readonly time: number;
  readonly text: string;
  readonly target: IpPrefix | undefined;
  readonly evidence: Evidence | undefined;
}

/** A source authenticated: trusted until `until` (persisted, so trust survives restarts). */
export interface TrustDecision {
  readonly action: 'trust';
  readonly target: IpPrefix;
  readonly time: number;
  readonly until: number;
  readonly account: string | undefined;
}

export type Decision = BanDecision | AlertDecision | TrustDecision;
