/**
 * An attacker's tries, one after another, until `count` or until it is cut off (three
 * unanswered in a row: the guard's drop); `attempt` says whether try `i` got an answer.
 */
export async function tryUntilCutOff(count: number, attempt: (i: number) => Promise<boolean>): Promise<{ answered: number; unanswered: number }> {
  let answered = 0;
  let unanswered = 0;
  let inARow = 0;
  for (let i = 0; i < count && inARow < 3; i++) {
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
