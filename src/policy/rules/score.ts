import { mayBanSource, type FailureRule } from './rule.js';

// Failures in a flood arrive a few ms apart, so the first ones have decayed by a hair when the
// threshold-th lands (5 guesses at 175/s lose 0.0007 with a 60 s half-life). Without this
// margin the threshold-th guess would never ban and every ban would cost one more guess.
const SCORE_TOLERANCE = 0.05;

/** Bans a source whose burst score, or slow score, reaches its threshold (times the trust factor). */
export const scoreBan: FailureRule = (f, t) => {
  const burst = f.score + SCORE_TOLERANCE >= t.config.threshold * f.trustFactor;
  if (!burst && f.slowScore + SCORE_TOLERANCE < t.config.slowThreshold * f.trustFactor) return undefined;
  if (!mayBanSource(f)) return undefined;
  const evidence = t.evidence(f, burst ? 'burst' : 'slow');
  return t.ban(f.key, f.event.time, burst ? 'brute-force' : 'slow-brute-force', evidence);
};
