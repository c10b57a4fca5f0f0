import { tmpdir } from 'node:os';
import { compiled } from './compiled.js';
import { FLEET_PBXS, FLEET_PBXS6, type FleetPbx } from './fleet-lab.js';
import { FRAUD_NUMBERS } from './toll-fraud-lab.js';
import type { SoakLab } from './soak-lab.js';

// The soak's attack waves: each from fresh sources at one PBX, counted from the attacker's side
// (how many tries Asterisk answered: the guesses that reached it; the tools stop after three
// unanswered tries in a row).

export const WAVE_KINDS = ['svcrack', 'swarm', 'siege', 'ami', 'invite-scan', 'ami-http', 'iax2', 'svwar', 'listed', 'toll-fraud'] as const;
export type WaveKind = (typeof WAVE_KINDS)[number];

export interface WaveResult {
  readonly kind: WaveKind;
  readonly pbx: FleetPbx;
  readonly sources: number;
  /** Tries Asterisk answered: the guesses the guard let through (toll fraud: calls the carrier answered). */
  readonly answered: number;
  readonly startedAt: number;
  readonly ms: number;
  /** What went otherwise than planned, for the run's story. */
  readonly note?: string;
}

const HTTP_PORT = 8088;
/**
 * An account no phone of the soak uses (asterisk-conf/pjsip.conf), its password found: blocking
 * it fails no legitimate call. The swarm guesses it too, as a brute force before fraud would.
 */
const FRAUD_ACCOUNT = { user: '1004', password: 'lab-1004-nobody-knows-this-one' };
const IAX_PORT = 4569;

/** Sends one wave; undefined when the run has no fresh sources left for it (a swarm's /24s). */
export async function sendWave(lab: SoakLab, kind: WaveKind, pbx: FleetPbx): Promise<WaveResult | undefined> {
  const to = FLEET_PBXS[pbx];
  const startedAt = Date.now();
  const tool = (host: string, script: string, args: readonly string[]) => lab.exec(host, process.execPath, [compiled(script), ...args], 120_000);
  let sources = 1;
  let r;
  switch (kind) {
    case 'svcrack':
      // svcrack's pace: about 175 guesses a second.
      r = await tool('atk', 'lab/sip-guess.js', [lab.freshSource(), to, '1001', '40', '6']);
      break;
    case 'swarm': {
      const swarm = lab.freshSwarm();
      if (!swarm) return undefined;
      sources = swarm.length;
      r = await tool('swarm', 'lab/sip-guess.js', [swarm.join(','), to, '1004', '6', '20']);
      break;
    }
    case 'siege': {
      // 40 sources in 40 IPv6 /48s on one account, over IPv6.
      const siege = lab.freshSiege();
      if (!siege) return undefined;
      sources = siege.length;
      r = await tool('siege', 'lab/sip-guess.js', [siege.join(','), FLEET_PBXS6[pbx], '1005', '6', '20']);
      break;
    }
    case 'ami':
      r = await tool('atk', 'lab/ami-attack.js', [to, '5038', '20', 'admin', lab.freshSource()]);
      break;
    case 'invite-scan':
      r = await tool('atk', 'lab/sip-scan.js', [lab.freshSource(), to, 'anon.example', '20']);
      break;
    case 'ami-http':
      r = await tool('atk', 'lab/ami-http-guess.js', [lab.freshSource(), to, String(HTTP_PORT), '20']);
      break;
    case 'iax2':
      r = await tool('atk', 'lab/iax-guess.js', [lab.freshSource(), to, String(IAX_PORT), '20']);
      break;
    case 'listed':
      // svcrack's pace from a source the blocklist lists: nothing should reach Asterisk.
      r = await tool('atk', 'lab/sip-guess.js', [lab.listedSource(), to, '1001', '10', '6']);
      break;
    case 'toll-fraud': {
      // The admin cleared the last wave's block (so that each wave meets the same PBX), then the
      // first number alone and the rest at once from a fresh source, as scenario 13: a call
      // counts when the carrier answered it (it rings a second first; the guard cuts at DialBegin).
      const cleared = await lab.clearFraudBlock(pbx, FRAUD_ACCOUNT.user);
      const source = lab.freshSource();
      const call = (n: string) => tool('atk', 'lab/sip-call.js', [source, to, FRAUD_ACCOUNT.user, FRAUD_ACCOUNT.password, n, '2000']);
      const calls = [await call(FRAUD_NUMBERS[0]!), ...(await Promise.all(FRAUD_NUMBERS.slice(1).map(call)))];
      const answered = calls.filter((c) => String(c.stdout).includes('"event":"up"')).length;
      return { kind, pbx, sources, answered, startedAt, ms: Date.now() - startedAt, ...(cleared ? {} : { note: `1004's block could not be cleared first` }) };
    }
    case 'svwar': {
      // SIPVicious's own extension scanner, bound to the fresh source; counted in Asterisk's
      // security log (it prints no count).
      const source = lab.freshSource();
      await lab.exec('atk', 'svwar', ['-e', '100-160', '--force', '-b', source, '-x', source, to], 60_000, tmpdir());
      return { kind, pbx, sources, answered: lab.securityFailures(pbx, source), startedAt, ms: Date.now() - startedAt };
    }
  }
  const last = String(r.stdout).split('\n').filter((l) => l.trim() !== '').at(-1);
  if (last === undefined) throw new Error(`${kind} wave at ${pbx}: the tool said nothing (exit ${r.exitCode}): ${String(r.stderr).slice(0, 300)}`);
  const { answered } = JSON.parse(last) as { answered: number };
  return { kind, pbx, sources, answered, startedAt, ms: Date.now() - startedAt };
}
