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

export type Decision = BanDecision;
