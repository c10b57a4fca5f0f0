import type { IpPrefix } from '../net/ip-prefix.js';
import type { Evidence } from '../detect/evidence.js';

export type BanReason = 'brute-force' | 'slow-brute-force' | 'guessed-password' | 'tripwire' | 'subnet' | 'range' | 'siege' | 'manual' | 'import' | 'fleet' | 'toll-fraud';

/** Who asked: the policy, an admin, an import, or another node of the fleet. */
export type BanOrigin = 'auto' | 'cli' | 'import' | 'fleet';

/** Where an admin made a change: the CLI (admin socket) or the web page. Audited with it. */
export type AdminChannel = 'cli' | 'web';

/** What a ban source hands the ban ledger; the ledger decides the step and the length. */
export interface BanRequest {
  readonly target: IpPrefix;
  /** When the deciding event happened (event clock), or the admin asked. */
  readonly time: number;
  readonly reason: BanReason;
  readonly origin: BanOrigin;
  /** A length the requester chose (admin --for, an import's until); null: permanent.
   *  Absent: the escalation ladder decides. */
  readonly durationMs?: number | null;
  readonly evidence?: Evidence | undefined;
  /** The admin's or the exporting guard's words for the ban. */
  readonly note?: string | undefined;
  /** The admin's --force: wider than policy.widest_ban (never over the never-ban lists). */
  readonly force?: boolean;
  /** Origin `fleet`: the node that decided it, whose share of the cap it takes. */
  readonly node?: string;
  /** Origin `cli`: where the admin asked. */
  readonly via?: AdminChannel;
}

/** A ban the ledger accepted: in force from `time`, on its way to the kernel. */
export interface BanDecision {
  readonly action: 'ban';
  readonly target: IpPrefix;
  readonly time: number;
  /** null: permanent. */
  readonly durationMs: number | null;
  /** Escalation step: 0 for a first offense in the lookback. */
  readonly step: number;
  readonly reason: BanReason;
  readonly origin: BanOrigin;
  readonly evidence: Evidence | undefined;
  readonly note: string | undefined;
  /** An element of an earlier ban of this prefix may still be in the kernel: replace it, not add. */
  readonly replaces: boolean;
  /** An admin's ban: where it was asked for. */
  readonly via?: AdminChannel;
}

export type AlertReason = 'stale-password' | 'trusted-failing' | 'guessed-password' | 'distributed-attack' | 'siege-ended' | 'decoy-authenticated';

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
