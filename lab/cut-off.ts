import { setTimeout as sleep } from 'node:timers/promises';

/**
 * SIPVicious' pace (svcrack's ~175 guesses a second, the mission's figure): the lab's own
 * scanners go no faster, so a door read from Asterisk's log is measured as svcrack is on AMI.
 * Unpaced, a try takes as long as Asterisk's answer (about a millisecond here), far faster
 * than the scanners seen in the wild.
 */
const PACE_MS = 1000 / 175;

/**
 * An attacker's tries, one after another and at most one per PACE_MS, until `count` or until
 * it is cut off (three unanswered in a row: the guard's drop); `attempt` says whether try `i`
 * got an answer.
 */
export async function tryUntilCutOff(count: number, attempt: (i: number) => Promise<boolean>): Promise<{ answered: number; unanswered: number }> {
  let answered = 0;
  let unanswered = 0;
  let inARow = 0;
  const start = performance.now();
  for (let i = 0; i < count && inARow < 3; i++) {
    const due = start + i * PACE_MS - performance.now();
    if (due > 0) await sleep(due);
    if (await attempt(i)) {
      answered++;
      inARow = 0;
    } else {
      unanswered++;
      inARow++;
    }
  }
  return { answered, unanswered };
}
