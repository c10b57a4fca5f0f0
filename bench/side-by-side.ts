// Benchmark 6: fail2ban and asterisk-guard side by side in the lab, same run, same Asterisk 22.
// One svcrack attacker for each (fail2ban ignores the guard's, the guard allow-lists
// fail2ban's), both with a threshold of 5. Counted from Asterisk's own security log: the failed
// guesses that reached Asterisk from each attacker. A third svcrack, left alone by both, gives
// the rate at which Asterisk emits security events under svcrack.
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { LabFail2ban } from '../lab/fail2ban.js';
import { ATTACKERS, Lab, LAB_THRESHOLD, type Attacker } from '../lab/lab.js';

export interface SideBySide {
  readonly threshold: number;
  readonly fail2ban: { guesses: number; banned: boolean; secondsToBan: number };
  readonly guard: { guesses: number; banned: boolean; secondsToBan: number };
  /** Security events per second Asterisk logged for an svcrack nobody bans. */
  readonly asteriskEventsPerSecond: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ATTACK_MS = 15_000;

/** Runs svcrack from `attacker` until `banned()` or ATTACK_MS; then lets stragglers land. */
async function attack(lab: Lab, attacker: Attacker, banned: () => Promise<boolean>) {
  const start = performance.now();
  const svcrack = lab.svcrack(attacker, '1001');
  let bannedAt: number | undefined;
  while (performance.now() - start < ATTACK_MS) {
    if (await banned()) {
      bannedAt = performance.now() - start;
      break;
    }
    await sleep(50);
  }
  await sleep(3000);
  svcrack.kill('SIGKILL');
  await svcrack.catch(() => undefined);
  return { guesses: lab.securityEvents('ChallengeResponseFailed', ATTACKERS[attacker]), banned: bannedAt !== undefined, secondsToBan: (bannedAt ?? ATTACK_MS) / 1000 };
}

/** Security events per second Asterisk logs for an svcrack nobody stops, between 1 s and 4 s. */
async function emissionRate(lab: Lab): Promise<number> {
  const svcrack = lab.svcrack('unbanned', '1001');
  await sleep(1000);
  const t0 = performance.now();
  const e0 = lab.securityEvents(undefined, ATTACKERS.unbanned);
  await sleep(3000);
  const rate = ((lab.securityEvents(undefined, ATTACKERS.unbanned) - e0) * 1000) / (performance.now() - t0);
  svcrack.kill('SIGKILL');
  await svcrack.catch(() => undefined);
  return rate;
}

export async function runSideBySide(say: (line: string) => void): Promise<SideBySide> {
  const f2bSource = ATTACKERS.againstFail2ban;
  const guardSource = ATTACKERS.againstGuard;
  const lab = await Lab.up({ say, prefix: 'agside', guardAllow: [f2bSource, ATTACKERS.unbanned] });
  let f2b: LabFail2ban | undefined;
  try {
    f2b = await LabFail2ban.start({ namespace: lab.net.ns('pbx'), logFile: path.join(lab.asterisk.logDir, 'messages'), maxretry: LAB_THRESHOLD, ignore: [guardSource, ATTACKERS.unbanned] });
    say(`fail2ban ${f2bSource}: svcrack against Debian's fail2ban (asterisk jail, nftables action, maxretry ${LAB_THRESHOLD})`);
    const fail2ban = await attack(lab, 'againstFail2ban', () => f2b!.bans(f2bSource));
    say(`  ${fail2ban.guesses} failed guesses reached Asterisk; fail2ban's ban landed ${fail2ban.secondsToBan.toFixed(2)} s after svcrack started`);
    say(`guard ${guardSource}: svcrack against asterisk-guard (threshold ${LAB_THRESHOLD})`);
    const guard = await attack(lab, 'againstGuard', async () => (await lab.bannedPrefixes()).includes(guardSource));
    say(`  ${guard.guesses} failed guesses reached Asterisk; the ban landed ${guard.secondsToBan.toFixed(2)} s after svcrack started`);
    // Last: its log lines would otherwise queue ahead of the attack in fail2ban's reader.
    const asteriskEventsPerSecond = await emissionRate(lab);
    say(`Asterisk logs ${Math.round(asteriskEventsPerSecond)} security events a second under an svcrack nobody stops`);
    return { threshold: LAB_THRESHOLD, fail2ban, guard, asteriskEventsPerSecond };
  } finally {
    await f2b?.stop();
    await lab.down();
  }
}
