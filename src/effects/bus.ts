import { EventEmitter } from 'eventemitter3';
import type { IpPrefix } from '../net/ip-prefix.js';
import type { SystemAlertKind } from '../notify/alert.js';
import type { FraudDecision } from '../fraud/fraud-decision.js';
import type { AdminChannel, AlertDecision, BanDecision, BanOrigin, TrustDecision } from '../policy/decision.js';

/** Latencies of one ban, in ms from the deciding event (null: that step failed). */
export interface BanLatency {
  readonly kernel: number;
  /** The source's own flows deleted from conntrack. */
  readonly conntrack: number | null;
  /** The flows the PBX started towards it deleted. */
  readonly conntrackTo: number | null;
}

/** Something wrong with the guard itself that the admins must hear about. */
export interface Trouble {
  readonly kind: Exclude<SystemAlertKind, 'test'>;
  readonly time: number;
  readonly text: string;
}

/**
 * Every change the guard makes, one event each, for the effects to act on (effects/*.ts: the
 * store, alerts, ARI hang-up, metrics, the log). A new effect is one subscriber; nothing that
 * emits knows who listens. Emitted after the kernel has a change, never before.
 */
export interface GuardEvents {
  /** A ban is in the kernel; `until` is wall time (null: permanent). */
  committed: (decision: BanDecision, until: number | null) => void;
  /** The conntrack flushes of a committed ban are done. */
  flushed: (decision: BanDecision, latency: BanLatency) => void;
  /** A ban was lifted in the kernel. */
  lifted: (prefix: IpPrefix, time: number, origin: BanOrigin, via?: AdminChannel) => void;
  alert: (decision: AlertDecision) => void;
  trust: (decision: TrustDecision) => void;
  /** A call judged by the toll-fraud guard (its ban, if any, comes as `committed`). */
  fraud: (decision: FraudDecision) => void;
  trouble: (trouble: Trouble) => void;
  /** Feed entries put into the kernel in bulk (a refresh): work that leaves garbage, as ban changes in bulk do. */
  listed: (changes: number) => void;
}

export type DecisionBus = EventEmitter<GuardEvents>;

export function decisionBus(): DecisionBus {
  return new EventEmitter<GuardEvents>();
}
