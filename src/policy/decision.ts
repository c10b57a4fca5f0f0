import type { IpPrefix } from '../net/ip-prefix.js';
import type { Evidence } from '../detect/scoreboard.js';

export interface BanDecision {
  readonly action: 'ban';
  readonly target: IpPrefix;
  /** When the deciding event happened (event clock). */
  readonly time: number;
  readonly durationMs: number;
  readonly reason: string;
  readonly evidence: Evidence;
}

/** Not an attack (yet): the admin should look, e.g. a phone with an old password. */
export interface WarnDecision {
  readonly action: 'warn';
  readonly target: IpPrefix;
  readonly time: number;
  readonly reason: string;
  readonly evidence: Evidence;
}

export type Decision = BanDecision | WarnDecision;

/** The admin's sentence for a warning. */
export function warningText(d: WarnDecision): string {
  return `${d.target.text}: account ${d.evidence.accounts.join(',')} failing, stale password?`;
}
