import type { FailureKind } from '../events/security-event.js';

/**
 * What made a decision. burst and slow ban; stale-password and trusted-failing only warn (a
 * phone with an old password); guessed-password and tripwire ban on one event; range bans a
 * /24 or /48 (or, where it holds a spared source, the member); siege bans a source failing on
 * an account under siege.
 */
export type Trigger = 'burst' | 'slow' | 'stale-password' | 'trusted-failing' | 'guessed-password' | 'tripwire' | 'range' | 'siege' | 'fleet-score';

/** A source's record as it stood when a decision was made: what the alert and `why` show. */
export interface Evidence {
  readonly source: string;
  readonly trigger: Trigger;
  readonly score: number;
  readonly slowScore: number;
  readonly events: Readonly<Partial<Record<FailureKind, number>>>;
  readonly accounts: readonly string[];
  readonly services: readonly string[];
  readonly firstSeen: number;
  readonly lastSeen: number;
  /** A range's evidence: the sources (scoring keys) that failed in it, up to four. */
  readonly members?: readonly string[];
}
