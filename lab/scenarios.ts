import { fleetScenario } from './fleet-lab.js';
import { tollFraudScenario, usualCalls } from './toll-fraud-lab.js';
import type { LogLine } from './guard-process.js';
import { ATTACKERS, Lab, LAB_THRESHOLD, type Attacker, PBX6, PHONE, PHONE_ACCOUNT, STALE_ACCOUNT, STALE_PHONE, SWARMS, type Swarm } from './lab.js';
import { webPageScenario } from './web-lab.js';

// The lab's scenarios (issue 3), each asserted on what the real system shows. They run in one
// order on one lab: the phones keep going in the background while the attackers take turns.

export interface ScenarioResult {
  readonly id: number;
  readonly title: string;
  readonly ok: boolean;
  readonly detail: string;
}

type Say = (line: string) => void;

class ScenarioFailure extends Error {}

function check(condition: boolean, message: string): void {
  if (!condition) throw new ScenarioFailure(message);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function latency(ban: LogLine): string {
  const l = ban['latency_ms'] as { kernel: number; conntrack: number | null } | undefined;
  return l ? `dropped in the kernel ${l.kernel} ms after the event, conntrack flushed at ${l.conntrack} ms` : '';
}

/** Waits for the guard's ban line for `target`, from log line `from` on. */
async function banOf(lab: Lab, target: string, from: number, ms = 20_000): Promise<LogLine> {
  return lab.guard!.waitFor((l) => l.msg === `ban ${target}`, ms, from);
}

/** A REGISTER of the phone that got no 200 OK: when, in which scenario, what sipsak said. */
interface FailedRegister {
  readonly at: number;
  readonly scenario: string;
  readonly detail: string;
  /** The lab had Asterisk down meanwhile (scenario 7's restart): a real phone retries. */
  readonly asteriskDown: boolean;
}

/**
 * A phone re-registering every 2 s until stopped: every REGISTER must get its 200 OK, but for
 * those the lab itself made fail by restarting Asterisk, counted apart. Each failure is said
 * as it happens, with the scenario running.
 */
export function phoneLoop(lab: Lab, say: Say, scenario: () => string): { stop: () => Promise<{ ok: number; failed: FailedRegister[] }> } {
  let running = true;
  let ok = 0;
  const failed: FailedRegister[] = [];
  const loop = (async () => {
    while (running) {
      const sent = Date.now();
      const during = scenario();
      const r = await lab.tryRegister('phone', PHONE_ACCOUNT);
      if (r.ok) ok++;
      else {
        const f = { at: sent, scenario: during === scenario() ? during : `${during} → ${scenario()}`, detail: r.detail, asteriskDown: lab.asterisk.downBetween(sent, Date.now()) };
        failed.push(f);
        say(`phone 1002: a REGISTER sent at ${new Date(sent).toISOString()} failed after ${Date.now() - sent} ms, in scenario ${f.scenario}${f.asteriskDown ? ' while the lab had Asterisk down' : ''}: ${r.detail}`);
      }
      await sleep(2000);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { ok, failed };
    },
  };
}

/** The stale-password phone: one REGISTER every 6 s (60 s in real life, windows scaled by 10). */
function stalePhoneLoop(lab: Lab, tries: number): Promise<number> {
  return (async () => {
    let sent = 0;
    for (; sent < tries; sent++) {
      await lab.register('stale', STALE_ACCOUNT);
      if (sent < tries - 1) await sleep(6000);
    }
    return sent;
  })();
}

/** What scenario 1 saw at the ban, for scenario 8 to check against. */
const svcrackAtBan = { pastDrop: -1 };

async function svcrackScenario(lab: Lab, say: Say): Promise<string> {
  const src = ATTACKERS.svcrack;
  const from = lab.guard!.lines.length;
  const droppedBefore = await lab.packetsDropped();
  say(`svcrack from ${src} guessing the password of account 1001 (about 175 guesses a second)`);
  const attack = lab.svcrack('svcrack', '1001');
  const ban = await banOf(lab, src, from);
  const pastAtBan = await lab.packetsPastDrop(src);
  svcrackAtBan.pastDrop = pastAtBan;
  const tracked = await lab.conntrackEntries(src);
  say(`banned ${src}: ${latency(ban)}`);
  await sleep(3000);
  const pastLater = await lab.packetsPastDrop(src);
  const dropped = (await lab.packetsDropped()) - droppedBefore;
  attack.kill('SIGTERM');
  await attack;
  await sleep(500);
  const guesses = lab.securityEvents('ChallengeResponseFailed', src);
  say(`failed guesses that reached Asterisk (its security log): ${guesses} (limit ${LAB_THRESHOLD + 1})`);
  say(`in the 3 s after the ban: ${pastLater - pastAtBan} packets from ${src} got past the drop, ${dropped} were dropped; conntrack entries left: ${tracked}`);
  check(guesses <= LAB_THRESHOLD + 1, `${guesses} failed guesses reached Asterisk, more than ${LAB_THRESHOLD + 1}`);
  check(pastLater === pastAtBan, `${pastLater - pastAtBan} packets from ${src} reached Asterisk after the ban`);
  check(dropped > 0, 'svcrack sent nothing after the ban: the drop was not exercised');
  check(tracked === 0, `${tracked} conntrack entries for ${src} right after the ban`);
  return `${guesses} guesses reached Asterisk; 0 packets after the ban, ${dropped} dropped`;
}

async function svwarScenario(lab: Lab, say: Say): Promise<string> {
  const src = ATTACKERS.svwar;
  const from = lab.guard!.lines.length;
  say(`svwar from ${src} enumerating extensions; against Asterisk 22 (which challenges unknown users too) each run gives up after a few probes, so the scanner runs it again on the next range`);
  let runs = 0;
  let banned = false;
  for (; runs < 10 && !banned; runs++) {
    const first = 2000 + runs * 100;
    await lab.svwar('svwar', `${first}-${first + 99}`);
    banned = lab.guard!.lines.slice(from).some((l) => l.msg === `ban ${src}`);
  }
  const ban = await banOf(lab, src, from, 2000);
  const probes = lab.securityEvents('InvalidAccountID', src);
  say(`banned ${src} during svwar run ${runs}: ${latency(ban)}; unknown extensions Asterisk saw: ${probes}`);
  return `banned during run ${runs}, after ${probes} probes of unknown extensions`;
}

async function amiScenario(lab: Lab, say: Say): Promise<string> {
  const src = ATTACKERS.ami;
  const from = lab.guard!.lines.length;
  say(`AMI brute force from ${src} on the manager port: logins as "admin" (denied by ACL) with random secrets`);
  const result = await lab.amiBruteForce('ami', 'admin', 20);
  const ban = await banOf(lab, src, from, 5000);
  await sleep(500);
  const refused = lab.securityEvents('FailedACL', src);
  // Asterisk answers a failed login after a 1 s penalty, so one login an attacker sends at
  // a time is one guess a second: slow enough for the lab's scaled-down windows to need a
  // couple more than the threshold.
  say(`banned ${src}: ${latency(ban)}; logins that reached Asterisk (its security log): ${refused}; then ${result.unanswered} attempts got no answer`);
  check(result.unanswered >= 3 && result.answered + result.unanswered < 20, 'the AMI attacker was not cut off');
  return `${refused} logins reached Asterisk (one a second), then banned and cut off`;
}

async function ipv6Scenario(lab: Lab, say: Say): Promise<string> {
  const src = ATTACKERS.ipv6;
  const from = lab.guard!.lines.length;
  say(`REGISTER digest guessing over IPv6 from ${src} to [${PBX6}]`);
  const attack = lab.sipGuess('ipv6', '1001', 100, 5);
  const ban = await banOf(lab, '2001:db8:66::/64', from);
  const result = JSON.parse(String((await attack).stdout)) as { answered: number };
  say(`banned 2001:db8:66::/64 (the attacker's whole /64): ${latency(ban)}; guesses answered: ${result.answered}`);
  check(result.answered <= LAB_THRESHOLD + 1, `${result.answered} IPv6 guesses answered`);
  return `/64 banned after ${result.answered} guesses`;
}

async function restartScenario(lab: Lab, say: Say): Promise<string> {
  const src = ATTACKERS.afterRestart;
  let from = lab.guard!.lines.length;
  say(`${src} starts guessing slowly; Asterisk is restarted in the middle of the attack`);
  await lab.sipGuess('afterRestart', '1001', 3, 300);
  await lab.asterisk.stop();
  await lab.guard!.waitFor((l) => l.msg === 'AMI connection lost; reconnecting', 10_000, from);
  await lab.asterisk.start();
  await lab.guard!.waitFor((l) => l.msg === 'AMI connected, receiving security events', 20_000, from);
  say('Asterisk is back; the guard reconnected on its own');
  const after = lab.sipGuess('afterRestart', '1001', 50, 5);
  const ban = await banOf(lab, src, from);
  const total = lab.securityEvents('ChallengeResponseFailed', src);
  await after;
  say(`banned ${src} after the restart: ${latency(ban)}; its guesses before and after the restart: ${total}`);
  check(total <= LAB_THRESHOLD + 1, `${total} guesses from ${src}`);

  const before = await lab.bannedPrefixes();
  say(`asterisk-guard killed with SIGKILL; the kernel still holds ${before.length} bans`);
  await lab.killGuard();
  await sleep(500);
  const held = await lab.bannedPrefixes();
  check(before.every((p) => held.includes(p)), `bans lost when the guard died: ${before.filter((p) => !held.includes(p)).join(', ')}`);
  const guard = await lab.startGuard();
  from = 0;
  const src2 = ATTACKERS.afterKill;
  const attack = lab.sipGuess('afterKill', '1001', 50, 5);
  const ban2 = await banOf(lab, src2, from);
  await attack;
  const kept = await lab.bannedPrefixes();
  check(held.every((p) => kept.includes(p)), 'the restarted guard dropped earlier bans');
  say(`started again, it banned the next attacker ${src2}: ${latency(ban2)} (pid ${guard.child.pid})`);
  return `reconnected after the Asterisk restart; bans survived SIGKILL; ${src2} banned by the new process`;
}

async function flushedRulesetScenario(lab: Lab, say: Say): Promise<string> {
  const src = ATTACKERS.afterKill;
  const banned = await lab.bannedPrefixes();
  check(banned.includes(src), `${src} is not banned any more: nothing to take away`);
  const from = lab.guard!.lines.length;
  say(`${src} (banned in scenario 7) guesses again, 100 a second; mid-attack someone runs \`nft flush ruleset\` (systemctl restart nftables does that)`);
  const attack = lab.sipGuess('afterKill', '1001', 300, 10);
  await sleep(500);
  const before = lab.securityEvents('ChallengeResponseFailed', src);
  const flushedAt = Date.now();
  await lab.exec('pbx', 'nft', ['flush', 'ruleset'], { reject: true });
  const restored = await lab.guard!.waitFor((l) => typeof l.msg === 'string' && l.msg.includes('changed by something else'), 5000, from);
  const gapMs = (restored.time ?? Date.now()) - flushedAt;
  await sleep(1000);
  const afterRestore = lab.securityEvents('ChallengeResponseFailed', src);
  await sleep(1000);
  const later = lab.securityEvents('ChallengeResponseFailed', src);
  await attack;
  say(`the guard noticed and rebuilt its table ${gapMs} ms after the flush: "${String(restored.msg)}"; guesses that reached Asterisk meanwhile: ${afterRestore - before}, in the next second: ${later - afterRestore}`);
  check(gapMs < 1000, `the table came back ${gapMs} ms after the flush`);
  check(later === afterRestore, `${later - afterRestore} guesses reached Asterisk after the table was rebuilt`);
  return `dropped again ${gapMs} ms after the flush; ${afterRestore - before} guesses got through meanwhile, none after`;
}

/** Failed guesses Asterisk itself logged from a swarm's sources. */
/** The swarm's failed guesses Asterisk logged since `since` (ms since the epoch): a scenario can run again. */
function swarmGuesses(lab: Lab, swarm: Swarm, since: number): number {
  return lab.securityEventTimes('ChallengeResponseFailed', SWARMS[swarm]).filter((t) => t >= since).length;
}

/** A swarm's failures as Asterisk timed them (EventTV), against the range ban that stopped it. */
export interface SwarmSplit {
  /** All of them: the swarm's failed guesses that reached Asterisk. */
  readonly guesses: number;
  /** Up to and including the failure the ban was decided on (the range threshold's worth). */
  readonly toDecidingEvent: number;
  /** After that failure, before the guard had it: AMI's delivery. */
  readonly amiDelivery: number;
  /** While the guard decided and the kernel committed the drop. */
  readonly toCommit: number;
  /** After the drop was committed: guesses Asterisk had already received, still being answered. */
  readonly afterCommit: number;
  /** ms from the deciding failure (Asterisk's EventTV) to the guard's arrival, and to the commit. */
  readonly amiMs: number;
  readonly commitMs: number;
}

function swarmSplit(lab: Lab, swarm: Swarm, ban: LogLine, since: number): SwarmSplit {
  const times = lab.securityEventTimes('ChallengeResponseFailed', SWARMS[swarm]).filter((t) => t >= since);
  const evidence = ban['evidence'] as { events: Record<string, number>; lastSeen: number };
  const decidedOn = Object.values(evidence.events).reduce((a, b) => a + b, 0);
  const deciding = times[Math.min(decidedOn, times.length) - 1] ?? evidence.lastSeen;
  const arrival = evidence.lastSeen;
  const commit = arrival + ((ban['latency_ms'] as { kernel: number }).kernel ?? 0);
  const count = (from: number, to: number) => times.filter((t) => t > from && t <= to).length;
  return {
    guesses: times.length,
    toDecidingEvent: times.filter((t) => t <= deciding).length,
    amiDelivery: count(deciding, arrival),
    toCommit: count(arrival, commit),
    afterCommit: times.filter((t) => t > commit).length,
    amiMs: arrival - deciding,
    commitMs: Math.round((commit - deciding) * 10) / 10,
  };
}

function describeSplit(s: SwarmSplit): string {
  return `${s.toDecidingEvent} up to the deciding failure, ${s.amiDelivery} while AMI delivered it (${s.amiMs} ms), ${s.toCommit} while the drop was committed (${s.commitMs} ms after the failure), ${s.afterCommit} after (already inside Asterisk)`;
}

export async function rangeSwarmScenario(lab: Lab, say: Say, split?: (s: SwarmSplit) => void): Promise<string> {
  const from = lab.guard!.lines.length;
  const since = Date.now();
  say(`40 sources in 198.18.7.0/24 guess account 1001's password round robin, about 2,000 guesses a second, each under the threshold on its own`);
  const attack = lab.swarmGuess('swarm4', '1001', 20, 20);
  const ban = await banOf(lab, '198.18.7.0/24', from);
  await attack;
  const where = swarmSplit(lab, 'swarm4', ban, since);
  const { guesses } = where;
  split?.(where);
  say(`banned 198.18.7.0/24 by its range score: ${latency(ban)}; failed guesses that reached Asterisk from the 40: ${guesses} (171 before range scores)`);
  say(`where they fell: ${describeSplit(where)}`);
  // What must hold: the /24 is banned as one, with far fewer guesses than before. The issue's
  // goal (≤ 20: 14-20 in the demo runs of docs/benchmarks.md) depends on how loaded the machine
  // is: the demo prints it met or missed rather than failing on a busy CI machine.
  check(guesses < 171, `${guesses} guesses reached Asterisk from the /24 swarm, no fewer than before range scores`);
  // The goal is over ten runs (`npm run swarm-runs`): one run says where it falls.
  return `${guesses} guesses reached Asterisk before the /24 was banned (goal over ten runs: median ≤ 20, none over 40; this run ${guesses <= 20 ? '≤ 20' : guesses <= 40 ? '≤ 40' : 'over 40'}; 171 before)`;
}

export async function siegeScenario(lab: Lab, say: Say, counted?: (guesses: number) => void): Promise<string> {
  const from = lab.guard!.lines.length;
  const since = Date.now();
  say(`40 sources in 40 IPv6 /48s guess account 1004's password round robin, about 2,000 guesses a second`);
  const attack = lab.swarmGuess('swarm6', '1004', 20, 20);
  const siege = await lab.guard!.waitFor((l) => typeof l.msg === 'string' && l.msg.startsWith('account 1004 under siege'), 20_000, from);
  await attack;
  const guesses = swarmGuesses(lab, 'swarm6', since);
  counted?.(guesses);
  const banned = (await lab.bannedPrefixes()).filter((p) => SWARMS.swarm6.some((a) => p.startsWith(a.slice(0, a.indexOf('::')))));
  say(`the guard: "${String(siege.msg).slice(0, 90)}..."; sources banned: ${banned.length}; failed guesses that reached Asterisk from the 40: ${guesses} (about 200 before sieges)`);
  check(banned.length === SWARMS.swarm6.length, `${banned.length} of the 40 sources banned`);
  check(guesses < 200, `${guesses} guesses reached Asterisk from the IPv6 swarm, no fewer than before sieges`);
  return `siege alerted; all 40 banned after ${guesses} guesses (goal ≤ 80: ${guesses <= 80 ? 'met' : 'missed'}; ~200 before)`;
}

/**
 * A door whose failures reach only Asterisk's log (issue 25): the attack runs until it is cut
 * off; its failures are counted in Asterisk's own messages log, and its security events (none
 * expected: that is why the log is followed) in the security log.
 */
async function logOnlyScenario(lab: Lab, say: Say, o: { attacker: Attacker; attack: string; line: RegExp; run: () => Promise<{ answered: number; unanswered: number }> }): Promise<string> {
  const address = ATTACKERS[o.attacker];
  const from = lab.guard!.lines.length;
  say(`${address}: ${o.attack}, at most 175 a second (svcrack's pace)`);
  const tries = await o.run();
  const ban = await banOf(lab, address, from, 10_000);
  const failures = lab.logLines(o.line, address).length;
  const events = lab.securityEvents(undefined, address);
  const banned = await lab.bannedPrefixes();
  say(`${tries.answered} answered, ${tries.unanswered} unanswered (cut off); Asterisk's log: ${failures} failures; security events: ${events}; ${latency(ban)}`);
  check(banned.includes(address), `${address} is not in the kernel's set`);
  check(events === 0, `Asterisk raised ${events} security events for ${address}: AMI reports this door after all`);
  check(failures <= LAB_THRESHOLD + 1, `${failures} failures reached Asterisk's log (threshold ${LAB_THRESHOLD})`);
  return `banned from Asterisk's own log after ${failures} failures (threshold ${LAB_THRESHOLD}); no security event was raised`;
}

/**
 * Issue 26: a source the lab's blocklist (a feed the guard pulled at its start) lists sends
 * svcrack: the kernel drops its first packet, so no guess reaches Asterisk at all.
 */
async function listedScenario(lab: Lab, say: Say): Promise<string> {
  const src = ATTACKERS.listed;
  const refreshed = lab.guard!.lines.find((l) => l.msg === 'feed lab-voipbl refreshed');
  check(refreshed !== undefined, "the guard never refreshed the lab's feed");
  say(`the guard pulled the lab's blocklist at its start: ${String(refreshed!['admitted'])} entries dropped, ${src} among them`);
  const droppedBefore = await lab.packetsDropped();
  say(`svcrack from ${src} guessing the password of account 1001 for 3 s`);
  const attack = lab.svcrack('listed', '1001');
  await sleep(3000);
  attack.kill('SIGTERM');
  await attack;
  await sleep(300);
  const dropped = (await lab.packetsDropped()) - droppedBefore;
  const passed = await lab.packetsPastDrop(src);
  const events = lab.securityEvents(undefined, src);
  const bans = lab.guard!.lines.filter((l) => l.msg === `ban ${src}`).length;
  say(`packets from ${src} dropped: ${dropped}, past the drop: ${passed}; guesses that reached Asterisk (its security log): ${events}; bans: ${bans}`);
  check(dropped > 0, 'svcrack sent nothing: the drop was not exercised');
  check(passed === 0 && events === 0, `${passed} packets and ${events} guesses from ${src} reached Asterisk`);
  return `0 guesses reached Asterisk; ${dropped} packets dropped by the feed's set, no ban needed`;
}

export async function runScenarios(lab: Lab, say: Say): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = [];
  let current = 'none (between scenarios)';
  const run = async (id: number, title: string, body: () => Promise<string>) => {
    say(`── scenario ${id}: ${title}`);
    current = String(id);
    try {
      const detail = await body();
      results.push({ id, title, ok: true, detail });
      say(`   ✔ ${detail}`);
    } catch (e) {
      const detail = e instanceof Error ? e.message : String(e);
      results.push({ id, title, ok: false, detail });
      say(`   ✘ ${detail}`);
    }
    current = `none (after ${id})`;
  };

  const registeredFirst = await lab.register('phone', PHONE_ACCOUNT);
  say(`phone 1002 at ${PHONE} registers before the attacks: ${registeredFirst ? '200 OK' : 'FAILED'}`);
  await usualCalls(lab, say);
  const phone = phoneLoop(lab, say, () => current);
  const staleFrom = lab.guard!.lines.length;
  const staleTries = 11;
  say(`phone 1003 at ${STALE_PHONE} with an old password starts retrying every 6 s (${staleTries} tries)`);
  const stale = stalePhoneLoop(lab, staleTries);

  await run(1, 'svcrack against an existing account', () => svcrackScenario(lab, say));
  await run(8, "another table accepts 'ct state established,related' first", async () => {
    const past = await lab.packetsPastDrop(ATTACKERS.svcrack);
    say(`lab_filter accepts established flows before anything else; the svcrack flow went through it until the ban, and was cut all the same`);
    check(svcrackAtBan.pastDrop > 0, 'no svcrack packet passed lab_filter before the ban: the established flow was not exercised');
    check(past === svcrackAtBan.pastDrop, `${past - svcrackAtBan.pastDrop} svcrack packets passed lab_filter after the ban`);
    return `lab_filter passed ${past} packets from ${ATTACKERS.svcrack} before the ban, none after`;
  });
  await run(2, 'svwar extension enumeration', () => svwarScenario(lab, say));
  await run(5, 'AMI brute force on the manager port', () => amiScenario(lab, say));
  await run(6, 'IPv6 attacker', () => ipv6Scenario(lab, say));
  await run(14, 'an INVITE scanner dials international numbers through an anonymous endpoint', () =>
    logOnlyScenario(lab, say, { attacker: 'inviteScan', attack: 'INVITEs from anon.example to 00972..., 9011 44... (no authentication)', line: /rejected because extension not found/, run: () => lab.inviteScan(20) }),
  );
  await run(15, 'AMI over HTTP: digest logins to /arawman', () =>
    logOnlyScenario(lab, say, { attacker: 'amiHttp', attack: 'digest logins as admin, manager, root... to /arawman', line: /tried to authenticate with nonexistent user/, run: () => lab.amiHttpGuess(20) }),
  );
  await run(16, 'IAX2: registrations of peers that do not exist', () =>
    logOnlyScenario(lab, say, { attacker: 'iax2', attack: 'IAX2 REGREQs for peers 100, 1000, trunk... (authdebug = yes)', line: /No registration for peer/, run: () => lab.iaxGuess(20) }),
  );
  await run(17, 'a source a blocklist feed lists sends svcrack', () => listedScenario(lab, say));
  await run(10, 'a swarm: 40 sources in one /24', () => rangeSwarmScenario(lab, say));
  await run(11, 'a swarm on one password: 40 sources in 40 IPv6 /48s', () => siegeScenario(lab, say));
  // While 1003's stale softphone still fails on the account (scenario 4), as a guessed password's
  // owner would see it: the fraudster's new address comes after the failures.
  await run(13, 'toll fraud: a known password calls premium-rate and foreign numbers', () => tollFraudScenario(lab, say));
  await run(4, 'phone with a stale password, retrying slowly', async () => {
    const tries = await stale;
    const banned = await lab.bannedPrefixes();
    const warning = lab.guard!.lines.slice(staleFrom).find((l) => typeof l.msg === 'string' && l.msg.includes(`account ${STALE_ACCOUNT.user} failing`));
    const failures = lab.securityEvents('ChallengeResponseFailed', STALE_PHONE);
    say(`${tries} tries, ${failures} failed authentications at Asterisk; banned: ${banned.includes(STALE_PHONE) ? 'yes' : 'no'}; the guard warned: ${warning?.msg ?? 'nothing'}`);
    check(!banned.includes(STALE_PHONE), `${STALE_PHONE} was banned`);
    check(warning !== undefined, 'no warning naming account 1003');
    return `not banned; warned "${String(warning!.msg)}"`;
  });
  await run(7, 'Asterisk restarted mid-attack; the guard killed and started again', () => restartScenario(lab, say));
  await run(9, 'someone flushes the ruleset mid-attack', () => flushedRulesetScenario(lab, say));
  await run(12, 'a fleet: three PBXs share one defence over Redis', () => fleetScenario(say, LAB_THRESHOLD));
  await run(18, 'the web page shows what the CLI shows', () => webPageScenario(lab, say));
  await run(3, 'the phone registers before, during and after, and stays registered', async () => {
    const tally = await phone.stop();
    const after = await lab.register('phone', PHONE_ACCOUNT);
    const contacts = await lab.contacts(PHONE_ACCOUNT.user);
    const banned = await lab.bannedPrefixes();
    // A REGISTER that fell into the lab's own Asterisk restart is no fault of the guard's; one
    // lost while the PBX was under attack is what the guard is for.
    const restart = tally.failed.filter((f) => f.asteriskDown);
    const attack = tally.failed.filter((f) => !f.asteriskDown);
    say(`REGISTERs during the attacks: ${tally.ok} OK, ${attack.length} failed${restart.length ? `, ${restart.length} failed while the lab had Asterisk down (scenario 7's restart; a phone retries)` : ''}; after: ${after ? '200 OK' : 'FAILED'}; contact: ${contacts.join(' ') || 'none'}`);
    check(registeredFirst && after && attack.length === 0 && tally.ok > 0, `phone registrations failed: ${attack.length} during${attack.length ? ` (${attack.map((f) => `scenario ${f.scenario}: ${f.detail}`).join('; ')})` : ''}, before ${registeredFirst}, after ${after}`);
    check(contacts.some((c) => c.includes(PHONE)), 'Asterisk holds no contact for 1002');
    check(!banned.includes(PHONE), `${PHONE} was banned`);
    return `${tally.ok + 2} registrations, all 200 OK${restart.length ? ` but ${restart.length} sent while the lab had Asterisk down` : ''}; still registered`;
  });
  return results;
}
