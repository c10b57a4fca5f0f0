import { execa, type ResultPromise } from 'execa';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { netnsRunner } from '../src/enforce/command-runner.js';
import { NftablesDriver } from '../src/enforce/nftables-driver.js';
import { compiled } from './compiled.js';
import { FLEET_PBXS, FleetLab, type FleetPbx } from './fleet-lab.js';
import type { GuardProcess, LogLine } from './guard-process.js';
import { ACCOUNT_1003, PHONE_ACCOUNT } from './lab.js';

// The soak's lab (issue 28): the fleet's three PBXs (each a real Asterisk 22 and its guard,
// sharing one Redis), two phones registering and calling all along, attackers drawing fresh
// source addresses for every wave, and a webhook receiver beside each guard. pbx-c keeps its
// state on a small tmpfs, so that a full file system can be one of the faults.

export const PBX_NAMES = Object.keys(FLEET_PBXS) as FleetPbx[];
/** The PBX whose state directory is a small tmpfs. */
export const SMALL_DISK: FleetPbx = 'pbx-c';
const WEBHOOK_PORT = 8099;
/**
 * Single-source attackers, each in a /24 of its own (198.19.N.7): a range ban of one leaves the
 * next wave's source outside it, and no attacker shares the phones' /24 or the router's.
 */
const SINGLES = range(1, 251).map((i) => `198.19.${i}.7`);
/** Sources the lab's blocklist lists (served to each guard's feed): dropped before a first guess. */
export const LISTED = range(251, 255).map((i) => `198.19.${i}.9`);
export const PHONES = [
  { name: 'phone', address: '198.51.100.10', account: PHONE_ACCOUNT, pbx: 'pbx-a' as FleetPbx },
  { name: 'desk', address: '198.51.100.30', account: ACCOUNT_1003, pbx: 'pbx-b' as FleetPbx },
];

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

/**
 * The webhook receiver beside a PBX's guard (127.0.0.1:8099 in its namespace), which also serves
 * the lab's blocklist on GET.
 */
async function startReceiver(namespace: string, file: string): Promise<{ readonly sink: ResultPromise }> {
  writeFileSync(file, '', { flag: 'a' });
  const list = `${file}.list`;
  writeFileSync(list, `# the soak's blocklist\n${LISTED.join('\n')}\n`);
  const sink = execa('ip', ['netns', 'exec', namespace, process.execPath, compiled('lab/alert-sink.js'), String(WEBHOOK_PORT), file, list], { reject: false, buffer: false });
  await new Promise<void>((resolve, reject) => {
    sink.stdout!.once('data', () => resolve());
    void sink.then(() => reject(new Error(`the webhook receiver in ${namespace} exited`)));
  });
  // Wrapped: a subprocess is a promise, which an async function's return would await.
  return { sink };
}

/** A /24 swarm's 40 sources in 198.18.N.0/24 (N up to 255: a run longer than 170 minutes sends svcrack waves past the last). */
function swarmSources(n: number): string[] {
  return range(1, 41).map((i) => `198.18.${n}.${i * 6}`);
}

/** An IPv6 siege's 40 sources, each in a /48 of its own: 2001:db8:X::66, X from 0x1000 on. */
function siegeSources(n: number): string[] {
  return range(0, 40).map((i) => `2001:db8:${(0x1000 + n * 40 + i).toString(16)}::66`);
}

export interface SoakLabOptions {
  readonly say: (line: string) => void;
  /** How many /24 swarms the run may send (each needs its 40 addresses set up). */
  readonly swarms: number;
  readonly cacheDir?: string;
}

export class SoakLab {
  private nextSingle = 0;
  private nextSwarm = 0;
  private nextListed = 0;
  private nextSiege = 0;
  readonly sinks = new Map<FleetPbx, ResultPromise>();
  /** Times a fault had a PBX drop every new flow (`to` undefined: it still does). */
  readonly outages: Array<{ readonly pbx: FleetPbx; readonly from: number; to?: number }> = [];
  /** Every guard process each PBX ran, oldest first (a SIGKILLed one keeps its log lines). */
  readonly guards = new Map<FleetPbx, GuardProcess[]>();

  private constructor(
    readonly fleet: FleetLab,
    private readonly swarms: number,
    readonly alertFiles: ReadonlyMap<FleetPbx, string>,
    readonly smallDisk: string,
  ) {
    for (const [n, m] of fleet.members) this.guards.set(n, [m.guard]);
  }

  static async up(o: SoakLabOptions): Promise<SoakLab> {
    const smallDisk = mkdtempSync(path.join(tmpdir(), 'ag-soak-disk-'));
    // Room for the store and its WAL (autocheckpoint at 1,000 pages: 4 MB), so that a full disk is
    // the fault's doing and its healing frees it (with 4 MB, writes still failed long after the
    // filler was gone: a 20-minute run's 477 bans and their audit filled it).
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', smallDisk]);
    const alertDir = mkdtempSync(path.join(tmpdir(), 'ag-soak-alerts-'));
    const alertFiles = new Map<FleetPbx, string>(PBX_NAMES.map((n) => [n, path.join(alertDir, `${n}.jsonl`)]));
    const sinks = new Map<FleetPbx, ResultPromise>();
    let fleet: FleetLab;
    try {
      fleet = await FleetLab.up(o.say, {
        prefix: 'agsoak',
        cacheDir: o.cacheDir,
        peers: [
          { name: 'atk', addresses: [...SINGLES, ...LISTED] },
          { name: 'swarm', addresses: range(0, o.swarms).flatMap(swarmSources) },
          { name: 'siege', addresses: range(0, o.swarms).flatMap(siegeSources) },
          { name: 'phones', addresses: PHONES.map((p) => p.address) },
        ],
        routes: ['198.19.0.0/16', '198.51.100.0/24', '198.18.0.0/16', '2001:db8:1000::/36'],
        ipv6: true,
        // The receivers first: each guard's feed pulls its list at start.
        beforeGuards: async (net) => {
          for (const n of PBX_NAMES) sinks.set(n, (await startReceiver(net.ns(n), alertFiles.get(n)!)).sink);
        },
        dirOf: (n) => {
          const dir = n === SMALL_DISK ? path.join(smallDisk, 'state') : mkdtempSync(path.join(tmpdir(), `ag-soak-${n}-`));
          mkdirSync(dir, { recursive: true });
          return dir;
        },
        extraConfig: (_n, asterisk) => `canary:
  interval: 5s
  timeout: 3s
alerts:
  # Every ban told (a single source's is info), in digests a few seconds apart, retried sooner
  # than by default: the soak checks that what the webhook missed while down arrives after.
  digest_interval: 5s
  retries: [1s, 2s, 5s, 10s, 20s]
  channels:
    - type: webhook
      url: http://127.0.0.1:${WEBHOOK_PORT}/alerts
      min_severity: info
asterisk_log:
  files: [${path.join(asterisk.logDir, 'messages')}]
  poll: 200ms
feeds:
  - { name: lab-list, type: list, url: "http://127.0.0.1:${WEBHOOK_PORT}/list.txt", interval: 1m }
`,
      });
    } catch (e) {
      for (const sink of sinks.values()) sink.kill('SIGKILL');
      await execa('umount', [smallDisk], { reject: false });
      throw e;
    }
    const lab = new SoakLab(fleet, o.swarms, alertFiles, smallDisk);
    for (const [n, sink] of sinks) lab.sinks.set(n, sink);
    return lab;
  }

  async down(): Promise<void> {
    for (const sink of this.sinks.values()) sink.kill('SIGKILL');
    await Promise.all(this.sinks.values());
    await this.fleet.down();
    await execa('umount', [this.smallDisk], { reject: false });
    for (const dir of [this.smallDisk, path.dirname([...this.alertFiles.values()][0]!)]) rmSync(dir, { recursive: true, force: true });
  }

  ns(host: string): string {
    return this.fleet.net.ns(host);
  }

  exec(host: string, command: string, args: readonly string[], timeout = 30_000, cwd?: string) {
    return execa('ip', ['netns', 'exec', this.ns(host), command, ...args], { reject: false, timeout, ...(cwd ? { cwd } : {}) });
  }

  guard(pbx: FleetPbx): GuardProcess {
    return this.fleet.members.get(pbx)!.guard;
  }

  async restartGuard(pbx: FleetPbx): Promise<void> {
    this.guards.get(pbx)!.push(await this.fleet.restartGuard(pbx));
  }

  /** Every log line of every guard process of the PBX, oldest first. */
  guardLines(pbx: FleetPbx): LogLine[] {
    return this.guards.get(pbx)!.flatMap((g) => g.lines);
  }

  /** Was the PBX unreachable for everyone at some time between the two: Asterisk down, or a fault's outage? */
  unreachableBetween(pbx: FleetPbx, from: number, to: number): boolean {
    return this.fleet.members.get(pbx)!.asterisk.downBetween(from, to) || this.outages.some((o) => o.pbx === pbx && o.from <= to && (o.to ?? Infinity) >= from);
  }

  /** A source no earlier wave used (bans last: a banned source cannot attack again). */
  freshSource(): string {
    return SINGLES[this.nextSingle++ % SINGLES.length]!;
  }

  /** A source the blocklist lists, in turn (never banned: the feed's set drops it first). */
  listedSource(): string {
    return LISTED[this.nextListed++ % LISTED.length]!;
  }

  /** Failures of a source in a PBX's security log (svwar prints no count of its own). */
  securityFailures(pbx: FleetPbx, source: string): number {
    try {
      return readFileSync(path.join(this.fleet.members.get(pbx)!.asterisk.logDir, 'security'), 'utf8')
        .split('\n')
        .filter((l) => l.includes(`/${source}/`) && !l.includes('SecurityEvent="ChallengeSent"') && !l.includes('SecurityEvent="SuccessfulAuth"')).length;
    } catch {
      return 0;
    }
  }

  freshSwarm(): string[] | undefined {
    return this.nextSwarm < this.swarms ? swarmSources(this.nextSwarm++) : undefined;
  }

  freshSiege(): string[] | undefined {
    return this.nextSiege < this.swarms ? siegeSources(this.nextSiege++) : undefined;
  }

  /** The webhook receiver beside a PBX's guard, again (after the webhook-down fault). */
  async startWebhook(pbx: FleetPbx): Promise<void> {
    this.sinks.set(pbx, (await startReceiver(this.ns(pbx), this.alertFiles.get(pbx)!)).sink);
  }

  async stopWebhook(pbx: FleetPbx): Promise<void> {
    const sink = this.sinks.get(pbx);
    this.sinks.delete(pbx);
    sink?.kill('SIGKILL');
    await sink;
  }

  /** The alerts a PBX's webhook received, in arrival order: the kind of each. */
  alerts(pbx: FleetPbx): Array<{ kind: string }> {
    const out: Array<{ kind: string }> = [];
    for (const line of readFileSync(this.alertFiles.get(pbx)!, 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      const a = JSON.parse(line) as { alerts?: Array<{ kind: string }>; kind?: string };
      for (const x of a.alerts ?? [a]) out.push({ kind: String(x.kind) });
    }
    return out;
  }

  /** A REGISTER of a phone to its PBX (sipsak): ok, or what failed. */
  async register(phone: (typeof PHONES)[number]): Promise<boolean> {
    const to = FLEET_PBXS[phone.pbx];
    const r = await this.exec('phones', 'sipsak', ['-U', '-C', `sip:${phone.account.user}@${phone.address}`, '-s', `sip:${phone.account.user}@${to}`, '--auth-username', phone.account.user, '-a', phone.account.password, '-x', '600', '-H', phone.address, '-i'], 10_000);
    return r.exitCode === 0;
  }

  /** A call of a phone to a number it usually calls; the far end answers and it hangs up. */
  async call(phone: (typeof PHONES)[number], number: string): Promise<string> {
    const r = await this.exec('phones', process.execPath, [compiled('lab/sip-call.js'), phone.address, FLEET_PBXS[phone.pbx], phone.account.user, phone.account.password, number, '300'], 15_000);
    const last = String(r.stdout).split('\n').filter((l) => l.trim() !== '').at(-1);
    return last === undefined ? 'failed' : (JSON.parse(last) as { event: string }).event;
  }

  /**
   * `asterisk-guard fraud clear ENDPOINT`, as the admin runs it: false when the guard refused it for
   * another reason than that the endpoint is not blocked (a fault keeping its store from writing).
   */
  async clearFraudBlock(pbx: FleetPbx, endpoint: string): Promise<boolean> {
    const r = await execa(process.execPath, [compiled('src/cli.js'), 'fraud', 'clear', endpoint, '--socket', path.join(this.fleet.members.get(pbx)!.dir, 'control.sock')], { reject: false, timeout: 20_000 });
    return r.exitCode === 0 || String(r.stderr).includes('is not blocked');
  }

  /** The bans in a PBX's kernel sets, read back by the driver as the guard reads them. */
  async kernelBans(pbx: FleetPbx): Promise<Set<string>> {
    const reader = new NftablesDriver(netnsRunner(this.ns(pbx)), { table: 'asterisk_guard', priority: -310 });
    return new Set((await reader.list(Date.now()).catch(() => [])).map((b) => b.prefix.text));
  }
}
