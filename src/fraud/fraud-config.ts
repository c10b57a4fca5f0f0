import type { DialPlan, NumberKind } from './destination.js';

/** What a rule does when it matches, weakest first; a call gets the strongest of its rules. */
export const FRAUD_ACTIONS = ['off', 'alert', 'hangup', 'block'] as const;
export type FraudAction = (typeof FRAUD_ACTIONS)[number];
/** The actions a verdict can carry (`off` never reaches one). */
export type FraudVerdict = Exclude<FraudAction, 'off'>;

export function strongest(a: FraudVerdict, b: FraudVerdict): FraudVerdict {
  return FRAUD_ACTIONS.indexOf(a) >= FRAUD_ACTIONS.indexOf(b) ? a : b;
}

export interface FraudConfig {
  readonly plan: DialPlan;
  /** An endpoint's baseline counts once it has this many calls over at least this long. */
  readonly learning: { readonly periodMs: number; readonly calls: number };
  /** Never judged (trunks delivering inbound calls, a call centre's dialler). */
  readonly ignore: readonly string[];
  /** The source of a call is "new" while the endpoint first used it less than this long ago. */
  readonly newSourceMs: number;
  /** The source's scoring prefix (IPv6: detect.ipv6_prefix), as the policy bans it. */
  readonly ipv6PrefixLength: number;
  readonly rules: {
    readonly riskyNumber: { readonly action: FraudAction; readonly kinds: readonly NumberKind[] };
    readonly newCountry: { readonly action: FraudAction; readonly allow: readonly string[] };
    readonly concurrent: { readonly action: FraudAction; readonly floor: number; readonly factor: number };
    readonly perMinute: { readonly action: FraudAction; readonly floor: number; readonly factor: number };
    readonly perHour: { readonly action: FraudAction; readonly floor: number; readonly factor: number };
    readonly shortCalls: { readonly action: FraudAction; readonly calls: number; readonly shorterThanMs: number; readonly windowMs: number };
    readonly newSource: { readonly action: FraudAction; readonly failures: number; readonly windowMs: number };
    readonly unusualHour: { readonly action: FraudAction };
  };
}

/** Endpoints the toll-fraud guard remembers (and stores, and restores): the most recently dialling ones. */
export const MAX_ENDPOINTS = 20_000;
