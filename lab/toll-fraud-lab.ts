import { execa } from 'execa';
import { compiled } from './compiled.js';
import { ACCOUNT_1003, ATTACKERS, DESK_PHONE, PHONE, PHONE_ACCOUNT, type Cdr, type Lab } from './lab.js';

// The toll-fraud scenario (issue 16): someone who knows 1003's password registers from a new
// address and calls premium-rate and far-away numbers; the lab's carrier (asterisk-conf's
// [carrier]) answers every number after a second of ringing. Counted from Asterisk's own CDRs.

type Say = (line: string) => void;

/** Numbers the phones usually call: London (Ofcom's drama range). */
const USUAL = ['02079460123', '02079460456', '02079460789'];
/** A number in the phones' country they never called: Leeds. */
const NEW_IN_COUNTRY = '01134960123';
const PREMIUM = '09098790000';
/** Premium-rate (UK 09...), Latvia and a satellite network: what a fraudster calls, the first premium. */
export const FRAUD_NUMBERS = [PREMIUM, '0037167000000', '00881612345678', '09098790001', '0037167000001'];

/**
 * Before the attacks: 1002 and 1003's desk phone place their usual calls (the guard's lab config
 * counts a baseline after 3).
 */
export async function usualCalls(lab: Lab, say: Say): Promise<void> {
  const phones = [['phone', PHONE_ACCOUNT], ['desk', ACCOUNT_1003]] as const;
  const results = await Promise.all(
    phones.map(async ([host, account]) => {
      const out: string[] = [];
      for (const n of USUAL) out.push((await lab.call(host, account, n, 200)).event);
      return out;
    }),
  );
  say(`usual calls: 1002 at ${PHONE} ${results[0]!.join(' ')}; 1003's desk phone at ${DESK_PHONE} ${results[1]!.join(' ')}`);
}

const connected = (c: Cdr) => c.disposition === 'ANSWERED';

export async function tollFraudScenario(lab: Lab, say: Say): Promise<string> {
  const since = Date.now() / 1000;
  const from = lab.guard!.lines.length;
  const alertsBefore = lab.alerts().length;

  const usual = await lab.call('phone', PHONE_ACCOUNT, USUAL[0]!, 300);
  const newNumber = await lab.call('phone', PHONE_ACCOUNT, NEW_IN_COUNTRY, 300);
  say(`1002 calls its usual number: ${usual.event}; a new number in its country (${NEW_IN_COUNTRY}): ${newNumber.event}`);

  const registered = await lab.register('tollFraud', ACCOUNT_1003);
  say(`the fraudster registers as 1003 from ${ATTACKERS.tollFraud}: ${registered ? '200 OK' : 'FAILED'}; dials ${PREMIUM} (premium rate)`);
  const first = await lab.call('tollFraud', ACCOUNT_1003, PREMIUM, 30_000);
  say(`first call: ${first.event}${first.status !== undefined ? ` ${first.status}` : ''}`);
  // Then many at once, as they do: from the banned address and from a second one.
  const more = await Promise.all([
    ...FRAUD_NUMBERS.slice(1).map((n) => lab.call('tollFraud', ACCOUNT_1003, n, 30_000)),
    ...FRAUD_NUMBERS.slice(0, 3).map((n) => lab.call('tollFraud2', ACCOUNT_1003, n, 30_000)),
  ]);
  say(`${more.length} more calls, from ${ATTACKERS.tollFraud} and ${ATTACKERS.tollFraud2}: ${more.map((m) => m.event).join(' ')}`);

  // Asterisk writes a CDR when a call ends: the last ones may still be on their way.
  await new Promise((r) => setTimeout(r, 500));
  const cdrs = lab.cdrs().filter((c) => c.start >= since && c.dcontext === 'lab');
  const fraud = cdrs.filter((c) => c.channel.startsWith('PJSIP/1003-') && FRAUD_NUMBERS.includes(c.dst)).sort((a, b) => a.start - b.start);
  const firstCdr = fraud[0];
  if (!firstCdr || firstCdr.dst !== PREMIUM) throw new Error(`no CDR for the first fraudulent call (${PREMIUM}): ${JSON.stringify(fraud)}`);
  const cutIn = firstCdr.end - firstCdr.start;
  const answered = fraud.filter(connected);
  const legit = cdrs.filter((c) => c.channel.startsWith('PJSIP/1002-'));
  const db = await lab.asterisk.cli('database show asterisk-guard');
  const banned = await lab.bannedPrefixes();
  const decision = lab.guard!.lines.slice(from).find((l) => l.decision === 'fraud' && l.endpoint === '1003');
  const hungUp = lab.guard!.lines.slice(from).find((l) => l.action === 'Hangup' && l.endpoint === '1003');
  const alert = lab.alerts().slice(alertsBefore).flatMap((d) => d.alerts).find((a) => a.kind === 'toll-fraud');
  say(
    `Asterisk's CDRs: the first fraudulent call lasted ${(cutIn * 1000).toFixed(0)} ms (${firstCdr.disposition}); ${fraud.length} of ${1 + more.length} fraudulent calls reached Asterisk, ${answered.length} connected; ` +
      `the guard: ${String(decision?.msg ?? 'no decision')}, AMI Hangup answered in ${String(hungUp?.ms ?? '?')} ms`,
  );
  say(`AstDB: ${db.split('\n').find((l) => l.includes('blocked/1003'))?.trim() ?? 'no block'}; banned: ${banned.includes(ATTACKERS.tollFraud) ? ATTACKERS.tollFraud : 'no'}; alert: ${alert?.title ?? 'none'}`);

  const problems: string[] = [];
  if (usual.event !== 'hungup' || newNumber.event !== 'hungup') problems.push(`1002's calls were cut: usual ${usual.event}, new number ${newNumber.event}`);
  if (legit.length !== 2 || !legit.every(connected)) problems.push(`1002's CDRs: ${JSON.stringify(legit.map((c) => `${c.dst} ${c.disposition}`))}`);
  if (cutIn > 1) problems.push(`the first fraudulent call lasted ${cutIn.toFixed(3)} s (at most 1 s)`);
  if (answered.length > 0) problems.push(`${answered.length} fraudulent calls connected: ${answered.map((c) => c.dst).join(', ')}`);
  if (!db.includes('/asterisk-guard/blocked/1003')) problems.push('1003 is not blocked in the AstDB');
  if (!banned.includes(ATTACKERS.tollFraud)) problems.push(`${ATTACKERS.tollFraud} is not banned`);
  if (!alert || !alert.lines.some((l) => l.includes(PREMIUM))) problems.push('no toll-fraud alert naming the number reached the webhook');
  if (problems.length > 0) throw new Error(problems.join('; '));

  // The admin clears the block: 1003's own phone calls again.
  const cleared = await execa(process.execPath, [compiled('src/cli.js'), 'fraud', 'clear', '1003', '--socket', lab.controlSocket], { reject: false });
  const after = await lab.call('desk', ACCOUNT_1003, USUAL[1]!, 300);
  say(`admin: ${String(cleared.stdout).trim() || String(cleared.stderr).trim()}; 1003's desk phone calls again: ${after.event}`);
  if (cleared.exitCode !== 0 || after.event !== 'hungup') throw new Error(`after fraud clear 1003, its desk phone's call: ${after.event} (clear: ${String(cleared.stderr)})`);
  return `first fraudulent call cut ${(cutIn * 1000).toFixed(0)} ms after it began, 0 of ${1 + more.length} connected; 1003 blocked, ${ATTACKERS.tollFraud} banned, admin alerted; 1002 never cut`;
}
