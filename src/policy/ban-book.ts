import type { IpPrefix } from '../net/ip-prefix.js';
import type { BanDecision, BanRequest } from './decision.js';

/**
 * What the policy needs of the ban ledger, defined here so the policy depends on no ledger:
 * is a source banned now, and a ban request that is accepted (its decision) or refused.
 */
export interface BanBook {
  bannedUntil(prefix: IpPrefix, time: number): number | undefined;
  request(r: BanRequest): BanDecision | { readonly refused: string };
  /** The escalation step a new ban of the prefix would get (a rule with its own ladder picks its length). */
  nextStep(prefix: IpPrefix, time: number): { step: number };
}
