import type { IpPrefix } from '../net/ip-prefix.js';
import type { Destination } from './destination.js';
import type { FraudVerdict } from './fraud-config.js';
import type { FraudRuleName } from './rules.js';

export interface FraudHit {
  /** `blocked`: the endpoint was blocked before and called again. */
  readonly rule: FraudRuleName | 'blocked';
  readonly action: FraudVerdict;
  readonly why: string;
}

/**
 * A call the toll-fraud guard judged: alert only, or cut (`hangup`), or cut and the endpoint
 * blocked and its source banned (`block`).
 */
export interface FraudDecision {
  readonly action: 'fraud';
  readonly verdict: FraudVerdict;
  readonly endpoint: string;
  /** The channel to hang up. */
  readonly channel: string;
  readonly uniqueid: string;
  readonly number: string;
  readonly destination: Destination;
  /** Where the call came from (the endpoint's authentication just before it). */
  readonly source: IpPrefix | undefined;
  /** The source is banned: for this call (a block from a new source), or was already. */
  readonly banned: boolean;
  /** A `hangup` raised to `block` because the source is new to the endpoint. */
  readonly escalated: boolean;
  readonly hits: readonly FraudHit[];
  /** When the call was dialled (DialBegin: the Timestamp header in replay, arrival live). */
  readonly time: number;
  readonly text: string;
  /**
   * 0: a decision of its own. n: the nth call an endpoint blocked before dialled since its
   * block: cut like the first, but not alerted, put in the AstDB or audited again (a blocked
   * endpoint dialling 2,000 times once made 2,000 webhooks); see isWorthTelling.
   */
  readonly whileBlocked: number;
}

/** A call of a blocked endpoint is alerted at its 10th, 100th, 1,000th... (with the count), not each time. */
export function isWorthTelling(d: FraudDecision): boolean {
  return d.whileBlocked === 0 || Number.isInteger(Math.log10(d.whileBlocked));
}

/** What an endpoint's block holds: the call that caused it. */
export interface FraudBlock {
  readonly endpoint: string;
  readonly since: number;
  readonly decision: FraudDecisionRecord;
}

/** A decision as the store keeps it (JSON: the source as text). */
export type FraudDecisionRecord = Omit<FraudDecision, 'source'> & { readonly source: string | null };

export function fraudRecord(d: FraudDecision): FraudDecisionRecord {
  return { ...d, source: d.source?.text ?? null };
}

/** One line per decision, as `replay` prints it: `fraud ENDPOINT verdict=...`. */
export function formatFraudLine(d: FraudDecision): string {
  return [
    `fraud ${d.endpoint}`,
    `verdict=${d.verdict}${d.escalated ? '(new source)' : ''}`,
    `rules=${d.hits.map((h) => h.rule).join(',')}`,
    `number=${d.number}`,
    `to=${d.destination.e164}`,
    `country=${d.destination.country}`,
    `kind=${d.destination.kind}`,
    `source=${d.source?.text ?? '-'}`,
    `banned=${d.banned ? 'yes' : 'no'}`,
    `time=${new Date(d.time).toISOString()}`,
  ].join(' ');
}
