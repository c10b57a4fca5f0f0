import { execa } from 'execa';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEFAULT_LAB_CACHE, ensureAsteriskRoot, LabAsterisk } from './asterisk.js';
import { PROJECT_ROOT } from '../src/paths.js';
import { compiled } from './compiled.js';
import { GuardProcess } from './guard-process.js';
import { guardConfig } from './lab.js';
import { LabNetwork, type HostSpec } from './netns.js';
import { LabRedis } from './redis.js';

// The fleet's lab: three PBXs, each a real Asterisk 22 with its own guard in its own network
// namespace, sharing bans and scores through one redis-server. A router namespace holds Redis
// and forwards between the PBXs and the attacker (documentation addresses only).

export const FLEET_PBXS = { 'pbx-a': '192.0.2.11', 'pbx-b': '192.0.2.12', 'pbx-c': '192.0.2.13' } as const;
export type FleetPbx = keyof typeof FLEET_PBXS;
export const FLEET_ATTACKER = '203.0.113.90';
export const ROUTER = '198.51.100.1';
/** With `ipv6`: the PBXs' IPv6 addresses and the router's. */
export const FLEET_PBXS6: Readonly<Record<FleetPbx, string>> = { 'pbx-a': '2001:db8::11', 'pbx-b': '2001:db8::12', 'pbx-c': '2001:db8::13' };
const ROUTER6 = '2001:db8:ff::1';
/** The PBXs' addresses, as the other hosts route to them. */
const FLEET_SUBNET = '192.0.2.0/24';
const FLEET_SUBNET6 = '2001:db8::/64';

export interface FleetMember {
  readonly asterisk: LabAsterisk;
  guard: GuardProcess;
  /** The guard's config file and its state directory. */
  readonly config: string;
  readonly dir: string;
}

export interface FleetOptions {
  readonly cacheDir?: string;
  /** Namespace prefix (one fleet lab at a time per prefix). */
  readonly prefix?: string;
  /** More hosts beside the attacker, reached through the router (the soak's attackers and phones). */
  readonly peers?: readonly HostSpec[];
  /** Prefixes the PBXs reach through the router besides the attacker (the peers' ranges). */
  readonly routes?: readonly string[];
  /** The state directory of a PBX's guard (default: a new temporary one). */
  readonly dirOf?: (pbx: FleetPbx) => string;
  /** The PBXs and the router get IPv6 addresses too (FLEET_PBXS6), forwarded by the router. */
  readonly ipv6?: boolean;
  /** More YAML for a PBX's guard config. */
  readonly extraConfig?: (pbx: FleetPbx, asterisk: LabAsterisk) => string;
  /** Runs once the namespaces are up, before any guard starts (servers the guards reach at start). */
  readonly beforeGuards?: (net: LabNetwork) => Promise<void>;
}

export class FleetLab {
  private constructor(
    readonly net: LabNetwork,
    readonly redis: LabRedis,
    readonly members: ReadonlyMap<FleetPbx, FleetMember>,
  ) {}

  static async up(say: (line: string) => void, o: FleetOptions = {}): Promise<FleetLab> {
    const root = await ensureAsteriskRoot({ cacheDir: o.cacheDir ?? DEFAULT_LAB_CACHE, log: say });
    const names = Object.keys(FLEET_PBXS) as FleetPbx[];
    const peers = o.peers ?? [];
    const v6 = o.ipv6 === true;
    const net = await LabNetwork.create(o.prefix ?? 'agfleet', { name: 'router', addresses: [ROUTER, ...(v6 ? [ROUTER6] : [])] }, [...names.map((n) => ({ name: n, addresses: [FLEET_PBXS[n], ...(v6 ? [FLEET_PBXS6[n]] : [])] })), { name: 'attacker', addresses: [FLEET_ATTACKER] }, ...peers]);
    const started: FleetMember[] = [];
    let redis: LabRedis | undefined;
    try {
      // The peers reach one another through the router.
      await execa('ip', ['netns', 'exec', net.ns('router'), 'sysctl', '-qw', 'net.ipv4.ip_forward=1', ...(v6 ? ['net.ipv6.conf.all.forwarding=1'] : [])]);
      for (const n of names) for (const to of [`${FLEET_ATTACKER}/32`, ...(o.routes ?? [])]) await route(net.ns(n), to);
      for (const host of ['attacker', ...peers.map((p) => p.name)]) for (const to of [FLEET_SUBNET, ...(v6 ? [FLEET_SUBNET6] : [])]) await route(net.ns(host), to);
      redis = await LabRedis.start({ namespace: net.ns('router'), host: ROUTER });
      await o.beforeGuards?.(net);
      const members = new Map<FleetPbx, FleetMember>();
      for (const n of names) {
        const asterisk = new LabAsterisk({ root, namespace: net.ns(n), confDir: path.join(PROJECT_ROOT, 'asterisk-conf'), dir: `/opt/${o.prefix ?? 'agfleet'}-${n}` });
        await asterisk.prepare();
        await asterisk.start();
        const dir = o.dirOf?.(n) ?? mkdtempSync(path.join(tmpdir(), `ag-fleet-${n}-`));
        const config = path.join(dir, 'config.yaml');
        writeFileSync(config, guardConfig(asterisk.managerConf, dir, [], `fleet:\n  redis: ${redis.url}\n  node: ${n}\n${o.extraConfig?.(n, asterisk) ?? ''}`), { mode: 0o600 });
        const member: FleetMember = { asterisk, guard: GuardProcess.start(net.ns(n), ['run', '--config', config]), config, dir };
        started.push(member);
        members.set(n, member);
        await awaitGuard(member.guard);
      }
      return new FleetLab(net, redis, members);
    } catch (e) {
      await teardown(started, redis, net);
      throw e;
    }
  }

  /** Starts a PBX's guard again (after a SIGKILL), waiting until it is linked as at start. */
  async restartGuard(pbx: FleetPbx): Promise<GuardProcess> {
    const m = this.members.get(pbx)!;
    m.guard = GuardProcess.start(this.net.ns(pbx), ['run', '--config', m.config]);
    await awaitGuard(m.guard);
    return m.guard;
  }

  async down(): Promise<void> {
    await teardown([...this.members.values()], this.redis, this.net);
  }

  /** Digest guesses from the attacker at one PBX: `count`, one every `everyMs`. */
  guess(pbx: FleetPbx, count: number, everyMs: number) {
    return execa('ip', ['netns', 'exec', this.net.ns('attacker'), process.execPath, compiled('lab/sip-guess.js'), FLEET_ATTACKER, FLEET_PBXS[pbx], '1001', String(count), String(everyMs)], { reject: false });
  }

  /** Failed guesses from the attacker that a PBX's Asterisk logged (its own security log). */
  failures(pbx: FleetPbx): number {
    let text = '';
    try {
      text = readFileSync(path.join(this.members.get(pbx)!.asterisk.logDir, 'security'), 'utf8');
    } catch {
      return 0;
    }
    return text.split('\n').filter((l) => l.includes('SecurityEvent="ChallengeResponseFailed"') && l.includes(`/${FLEET_ATTACKER}/`)).length;
  }

  /** Is the attacker in this PBX's kernel (its guard's nft set)? */
  async dropped(pbx: FleetPbx): Promise<boolean> {
    const r = await execa('ip', ['netns', 'exec', this.net.ns(pbx), 'nft', 'list', 'table', 'inet', 'asterisk_guard'], { reject: false });
    return String(r.stdout).includes(FLEET_ATTACKER);
  }
}

/** A route to `to` (a prefix) through the router, on the namespace's one veth. */
async function route(namespace: string, to: string): Promise<void> {
  const links = String((await execa('ip', ['-n', namespace, '-o', 'link', 'show'])).stdout);
  const dev = /^\d+: ([^:@]+)[@:]/m.exec(links.split('\n').filter((l) => !/: lo:/.test(l)).join('\n'))?.[1];
  if (!dev) throw new Error(`no veth in ${namespace}`);
  await execa('ip', ['-n', namespace, 'route', 'add', to, 'via', to.includes(':') ? ROUTER6 : ROUTER, 'dev', dev, 'onlink']);
}

async function awaitGuard(guard: GuardProcess): Promise<void> {
  await guard.waitFor((l) => l.msg === 'AMI connected, receiving security events', 20_000);
  await guard.waitFor((l) => typeof l.msg === 'string' && l.msg.startsWith('fleet: linked to Redis'), 10_000);
}

async function teardown(members: readonly FleetMember[], redis: LabRedis | undefined, net: LabNetwork): Promise<void> {
  for (const m of members) {
    m.guard.kill('SIGKILL');
    await m.guard.exit();
  }
  // The first Asterisk mounted the root's /proc: it goes last.
  for (const m of [...members].reverse()) await m.asterisk.dispose();
  await redis?.kill();
  await net.destroy();
  for (const m of members) rmSync(m.dir, { recursive: true, force: true });
}

/**
 * The demo's fleet scenario: one attacker spreads its guesses over the three PBXs in turn, each
 * PBX seeing fewer than the threshold; counted in the three Asterisks' own security logs.
 */
export async function fleetScenario(say: (line: string) => void, threshold: number): Promise<string> {
  say(`three PBXs (${Object.values(FLEET_PBXS).join(', ')}), each with Asterisk 22 and its own guard, share one Redis`);
  const lab = await FleetLab.up(say, { cacheDir: process.env['AG_LAB_CACHE'] ?? DEFAULT_LAB_CACHE });
  try {
    say(`${FLEET_ATTACKER} guesses account 1001's password at the three in turn, one guess every 100 ms`);
    const pbxs = Object.keys(FLEET_PBXS) as FleetPbx[];
    await Promise.all(pbxs.map(async (p, i) => {
      await new Promise((r) => setTimeout(r, i * 100));
      await lab.guess(p, 10, 300);
    }));
    const per = pbxs.map((p) => lab.failures(p));
    const total = per.reduce((a, b) => a + b, 0);
    const dropped = await Promise.all(pbxs.map((p) => lab.dropped(p)));
    const decider = pbxs.find((p) => lab.members.get(p)!.guard.lines.some((l) => l.msg === `ban ${FLEET_ATTACKER}` && l['reason'] === 'brute-force'));
    say(`failed guesses per PBX (their own logs): ${pbxs.map((p, i) => `${p} ${per[i]}`).join(', ')}; ${total} in all; banned by ${decider ?? 'nobody'} on the fleet-wide score, in all three kernels: ${dropped.every(Boolean) ? 'yes' : 'no'}`);
    if (!dropped.every(Boolean)) throw new Error(`not banned on ${pbxs.filter((_, i) => !dropped[i]).join(', ')}`);
    if (total > threshold + 2) throw new Error(`${total} guesses reached the fleet (at most threshold + 2 = ${threshold + 2})`);
    return `the attacker banned on all three PBXs after ${total} guesses in all (at most ${threshold + 2}; ${3 * threshold - 1} without the fleet)`;
  } finally {
    await lab.down();
  }
}
