import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../../lab/lab.js';
import { runScenarios, type ScenarioResult } from '../../lab/scenarios.js';

// The live lab as a test: the same runner as `npm run demo`, a real Asterisk 22 attacked by
// SIPVicious and the lab's AMI and IPv6 guessers, defended by the real daemon.

let lab: Lab | undefined;
let results: ScenarioResult[] = [];
const story: string[] = [];

describe('the live lab', () => {
  beforeAll(async () => {
    lab = await Lab.up({ prefix: 'age2e', say: (l) => story.push(l), ...(process.env['AG_LAB_CACHE'] ? { cacheDir: process.env['AG_LAB_CACHE'] } : {}) });
    results = await runScenarios(lab, (l) => story.push(l));
  }, 600_000);

  afterAll(async () => {
    await lab?.down();
  });

  it.each([
    [1, 'svcrack: banned within threshold + 1 guesses; nothing gets past the drop after it'],
    [2, 'svwar enumeration: banned'],
    [3, 'the phone stays registered throughout'],
    [4, 'the stale-password phone: not banned, warned'],
    [5, 'AMI brute force: banned'],
    [6, 'IPv6 attacker: its /64 banned'],
    [7, 'Asterisk restart and guard SIGKILL: the guard recovers, bans survive'],
    [8, 'an established-accept rule elsewhere does not save the attacker'],
    [9, 'a flushed ruleset: the guard rebuilds its table within a second, mid-attack'],
    [10, 'a swarm of 40 sources in one /24: its range banned, far fewer guesses than before'],
    [11, 'a swarm of 40 sources in 40 /48s on one password: a siege, all 40 banned'],
    [12, 'a fleet of three PBXs over Redis: a spread-out attacker banned on all three within threshold + 2'],
    [13, 'toll fraud: the first call cut within 1 s (CDRs), none connects, endpoint blocked, source banned, alerted'],
    [14, "an INVITE scan through an anonymous endpoint (no security event): banned from Asterisk's log within threshold + 1"],
    [15, "AMI over HTTP digest (no security event): banned from Asterisk's log within threshold + 1"],
    [16, "IAX2 registrations with authdebug (no security event): banned from Asterisk's log within threshold + 1"],
    [17, 'a source a blocklist feed lists: 0 guesses reach Asterisk'],
    [18, 'the web page, over its unix socket, shows the bans, status and attackers the CLI shows'],
  ])('scenario %i: %s', (id) => {
    const r = results.find((x) => x.id === id);
    expect(r, `scenario ${id} did not run:\n${story.join('\n')}`).toBeDefined();
    expect(r!.ok, `${r!.detail}\n\nthe lab's story:\n${story.join('\n')}`).toBe(true);
  });
});
