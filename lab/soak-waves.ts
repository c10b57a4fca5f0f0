import { tmpdir } from 'node:os';
import { compiled } from './compiled.js';
import { FLEET_PBXS, FLEET_PBXS6, type FleetPbx } from './fleet-lab.js';
import type { SoakLab } from './soak-lab.js';

// The soak's attack waves: each from fresh sources at one PBX, counted from the attacker's side
// (how many tries Asterisk answered: the guesses that reached it; the tools stop after three
// unanswered tries in a row).

export const WAVE_KINDS = ['svcrack', 'swarm', 'siege', 'ami', 'invite-scan', 'ami-http', 'iax2', 'svwar', 'listed'] as const;
export type WaveKind = (typeof WAVE_KINDS)[number];

export interface WaveResult {
  readonly kind: WaveKind;
  readonly pbx: FleetPbx;
  readonly sources: number;
  /** Tries Asterisk answered: the guesses the guard let through. */
  readonly answered: number;
  readonly startedAt: number;
  readonly ms: number;
}

const HTTP_PORT = 8088;
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
