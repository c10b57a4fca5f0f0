import type { SuccessRule } from './rule.js';

/**
 * An untrusted source that authenticates after several failures guessed the password: a
 * critical alert and a ban (its calls are hung up with it).
 */
export const guessedPassword: SuccessRule = (s, t) => {
  if (s.trusted) return undefined;
  const failures = t.scoreboard.failures(s.key);
  if (failures < t.config.guessedPasswordFailures) return undefined;
  const evidence = t.scoreboard.snapshot(s.key, 'guessed-password');
  const account = s.event.account ?? '?';
  const alert = t.alert('critical', 'guessed-password', s.event.time, `${s.key.text} authenticated as ${account} after ${failures} failures: a guessed password. Banned; change the password of ${account}`, s.key, evidence);
  const ban = t.ban(s.key, s.event.time, 'guessed-password', evidence);
  return ban ? [alert, ban] : alert;
};
