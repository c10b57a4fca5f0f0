import type { Evidence, Trigger } from '../../detect/evidence.js';
import type { Scoreboard } from '../../detect/scoreboard.js';
import type { FailureKind, SecurityEvent } from '../../events/security-event.js';
import type { IpPrefix } from '../../net/ip-prefix.js';
import type { AlertDecision, BanDecision, BanReason, Decision } from '../decision.js';
import type { PolicyConfig } from '../policy-config.js';

/** One failure as the rules see it, after the scoreboard has counted it. */
export interface Failure {
  readonly event: SecurityEvent & { kind: FailureKind };
  /** The scoring key: the address, or its IPv6 /64. */
  readonly key: IpPrefix;
  /** The key's /24 or /48 (range scores); the key itself when it is as wide already. */
  readonly range: IpPrefix;
  /** The scoreboard slot of the key; valid while the rules run. */
  readonly slot: number;
  readonly score: number;
  readonly slowScore: number;
  /** The source authenticated lately (and is not banned since). */
  readonly trusted: boolean;
  /** 1, or trust.factor for a trusted source. */
  readonly trustFactor: number;
  /**
   * The sender provably received our answers (SecurityEvent.roundTrip). A trusted source, and
   * a range holding one, is banned on proven failures only: UDP sources can be forged.
   */
  readonly proven: boolean;
  /** The ban this failure has led to so far (a later rule may build on it). */
  readonly banned: BanDecision | undefined;
}

/** May this failure ban its source? Not when the source is trusted and the failure could be forged. */
export function mayBanSource(f: Failure): boolean {
  return f.proven || !f.trusted;
}

/** A successful authentication as the rules see it. */
export interface Success {
  readonly event: SecurityEvent;
  readonly key: IpPrefix;
  readonly trusted: boolean;
}

/** What every rule may use: the config, the scores, and the two ways to decide. */
export interface RuleTools {
  readonly config: PolicyConfig;
  readonly scoreboard: Scoreboard;
  /** Is the prefix banned at `time` (the ledger's answer)? */
  banned(prefix: IpPrefix, time: number): boolean;
  /** Is the source (a scoring key) stopped at `time`: banned, or inside a banned range? */
  stopped(key: IpPrefix, time: number): boolean;
  /** Does the range hold a source trusted at `time`? */
  holdsTrusted(range: IpPrefix, time: number): boolean;
  /** Asks the ban ledger; the decision when it accepted, undefined when it refused. `durationMs`: a rule's own ladder. */
  ban(target: IpPrefix, time: number, reason: BanReason, evidence: Evidence | undefined, durationMs?: number | null): BanDecision | undefined;
  /** The escalation step a new ban of the prefix would get. */
  nextStep(prefix: IpPrefix, time: number): number;
  alert(severity: AlertDecision['severity'], reason: AlertDecision['reason'], time: number, text: string, target: IpPrefix | undefined, evidence: Evidence | undefined): AlertDecision;
  evidence(f: Failure, trigger: Trigger): Evidence;
}

export type Decided = Decision | readonly Decision[] | undefined;

/** A policy rule: one concern, `(failure, tools) → decision | undefined`, run in order. */
export type FailureRule = (f: Failure, tools: RuleTools) => Decided;
export type SuccessRule = (s: Success, tools: RuleTools) => Decided;
