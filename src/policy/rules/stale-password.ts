import type { FailureRule } from './rule.js';

// A phone with an old password fails on its one account at its retry pace; an attacker tries
// many accounts, or fails fast. Warn from the third such failure, once per source.
const STALE_PASSWORD_FAILURES = 3;

/**
 * Warns, once per source, about a failing source that looks like a phone with a stale
 * password rather than an attacker: a trusted one, or one failing slowly on one account.
 */
export const stalePasswordWarning: FailureRule = (f, t) => {
  if (f.banned !== undefined || t.scoreboard.warned(f.slot)) return undefined;
  // The cheap test first: most failing sources are scoring fast, not failing slowly.
  const trigger =
    f.trusted
      ? 'trusted-failing'
      : f.score < t.config.threshold / 2 && t.scoreboard.singleAccountPasswordFailures(f.slot) >= STALE_PASSWORD_FAILURES
        ? 'stale-password'
        : undefined;
  if (trigger === undefined) return undefined;
  const evidence = t.evidence(f, trigger);
  t.scoreboard.markWarned(f.slot);
  // Over UDP the address may be forged: the failures stay on record but ban nothing.
  const forgeable = f.trusted && !f.proven ? ' (trusted; over UDP its address may be forged, so these failures ban nothing)' : '';
  return t.alert('warning', trigger, f.event.time, `${f.key.text}: account ${evidence.accounts.join(',')} failing, stale password?${forgeable}`, f.key, evidence);
};
