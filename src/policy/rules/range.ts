import type { Scoreboard } from '../../detect/scoreboard.js';
import { mayBanSource, type FailureRule } from './rule.js';

// As the source scores: failures in a flood arrive a few ms apart and decay by a hair.
const SCORE_TOLERANCE = 0.05;

/**
 * Range scores against swarms: forty sources in one /24, each kept under the threshold, make
 * one range over it. Every failure also counts on the board of its /24 (IPv4) or /48 (IPv6),
 * which remembers up to four of the sources that failed in it; the range is banned, on its own
 * ladder, when its score reaches `range.threshold` from at least `range.min_sources` of them,
 * or sooner when its first failures arrive as a flood (`range.flood_failures` within
 * `range.flood_window`): at 2,000 guesses a second, each ms before the drop lets two more in,
 * and no office fails five times in 100 ms from three addresses.
 * A range holding an allow-listed, never-ban or trusted source is never banned whole: the
 * failing member is, one by one.
 */
export function rangeBan(board: Scoreboard): FailureRule {
  return (f, t) => {
    // Every failure from inside counts, a banned member's too: a siege that bans members one
    // by one must not starve the range that would stop them all (scenario 10 in the demo).
    const range = f.range;
    const c = t.config.range;
    if (range === f.key || !c.enabled) return undefined;
    const time = f.event.time;
    if (t.banned(range, time)) return undefined;
    // A forgeable failure of a trusted source counts for nothing here either.
    const slot = board.recordFailure(f.event, range, mayBanSource(f), f.key.text);
    const flood = c.floodFailures > 0 && board.arrivedWithin(slot, c.floodFailures, c.floodWindowMs);
    if ((board.score + SCORE_TOLERANCE < c.threshold && !flood) || board.distinctTags(slot) < c.minSources) return undefined;
    const found = board.evidence(slot, range, 'range');
    const evidence = { ...found, accounts: f.event.account === undefined ? [] : [f.event.account], members: found.accounts };
    if (!t.holdsTrusted(range, time)) {
      const ladder = c.ladder;
      const banned = t.ban(range, time, 'range', evidence, ladder[Math.min(t.nextStep(range, time), ladder.length - 1)]);
      if (banned !== undefined) {
        board.forget(range);
        return banned;
      }
    }
    // Refused (it holds an allowed or never-ban address) or trusted inside: the member goes,
    // unless it is the trusted one (its own score, and proof, decide for it).
    return f.trusted || f.banned !== undefined ? undefined : t.ban(f.key, time, 'range', t.evidence(f, 'range'));
  };
}
