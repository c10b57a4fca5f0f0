import { execa, type ResultPromise } from 'execa';
import { randomBytes } from 'node:crypto';
import { appendFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

// A real Asterisk 22 for the lab and the tests: Debian unstable's package in a debootstrap root
// (Debian 12 has no Asterisk), run inside a network namespace with the project's asterisk-conf/.

export const DEFAULT_LAB_CACHE = '/var/cache/asterisk-guard-lab';
const PBX_DIR = '/opt/pbx';

export interface AsteriskRootOptions {
  readonly cacheDir: string;
  readonly log: (line: string) => void;
}

/** The root with Asterisk in it: built once with debootstrap (about 90 s), then reused. */
export async function ensureAsteriskRoot({ cacheDir, log }: AsteriskRootOptions): Promise<string> {
  const root = path.join(cacheDir, 'root');
  if (existsSync(path.join(root, 'usr/sbin/asterisk')) && existsSync(path.join(root, '.complete'))) return root;
  log(`building the Asterisk 22 root in ${root} with debootstrap (first run only, about 2 minutes)`);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(cacheDir, { recursive: true });
  await execa('debootstrap', ['--variant=minbase', '--include=asterisk,asterisk-modules,asterisk-config', 'sid', root], {
    stdout: 'ignore',
    stderr: 'pipe',
  });
  writeFileSync(path.join(root, '.complete'), new Date().toISOString());
  return root;
}

export interface AsteriskOptions {
  readonly root: string;
  /** Network namespace to run in. */
  readonly namespace: string;
  /** The project's asterisk-conf/ folder. */
  readonly confDir: string;
  /**
   * Where this instance keeps its config, logs and state inside the root (default /opt/pbx):
   * several Asterisks share one root (the fleet's lab), each with a directory of its own.
   */
  readonly dir?: string;
}

/**
 * The doors through which failures reach only Asterisk's log (issue 25), opened as PBXs open
 * them: an anonymous endpoint, AMI over HTTP, IAX2 with authdebug. Lab-only: asterisk-conf/
 * ships none of them. The anonymous endpoint is for the anon.example domain only: a plain
 * `anonymous` endpoint also takes REGISTERs for unknown users, which the other scenarios need
 * to fail as InvalidAccountID.
 */
function withLogOnlyDoors(etc: string): void {
  const append = (name: string, text: string) => appendFileSync(path.join(etc, name), `\n${text}`);
  append('modules.conf', 'load = res_pjsip_endpoint_identifier_anonymous.so\nload = chan_iax2.so\n');
  append('pjsip.conf', '[anonymous@anon.example]\ntype = endpoint\ncontext = from-anon\nallow = ulaw\n');
  append('extensions.conf', '; Calls from the anonymous endpoint: the reception desk only.\n[from-anon]\nexten => 2000,1,Answer()\n same => n,Hangup()\n');
  append('manager.conf', '[general](+)\nwebenabled = yes\n');
  writeFileSync(path.join(etc, 'http.conf'), readFileSync(path.join(etc, 'http.conf'), 'utf8').replace('bindaddr = 127.0.0.1', 'bindaddr = 0.0.0.0'));
  writeFileSync(path.join(etc, 'iax.conf'), `[general]\nbindaddr = 0.0.0.0\nbindport = ${IAX_PORT}\nauthdebug = yes\n\n[2001]\ntype = friend\nhost = dynamic\nsecret = lab-iax-2001-secret\ncontext = lab\n`);
}

export const IAX_PORT = 4569;
export const HTTP_PORT = 8088;

/** The shipped AMI section with its `;toll-fraud ` lines turned on (docs/fraud.md, step 1). */
export function withTollFraudRights(section: string): string {
  const on = section.replaceAll('\n;toll-fraud ', '\n');
  if (on === section) throw new Error('asterisk-conf/manager.d/asterisk-guard.conf has no ;toll-fraud lines to turn on');
  return on;
}

/** One Asterisk process. Its AMI secret for the guard is made fresh for each lab. */
export class LabAsterisk {
  readonly amiSecret = randomBytes(18).toString('base64url');
  private process: ResultPromise | undefined;
  private mountedProc = false;

  private readonly dir: string;

  constructor(private readonly options: AsteriskOptions) {
    this.dir = options.dir ?? PBX_DIR;
  }

  /** manager.conf as seen from outside the root: what the guard reads. */
  get managerConf(): string {
    return path.join(this.options.root, this.dir, 'etc/manager.conf');
  }

  get logDir(): string {
    return path.join(this.options.root, this.dir, 'log');
  }

  /** Copies asterisk-conf/ into the root, with a fresh secret and a self-signed AMI TLS
   *  certificate, and clears old logs and state. */
  async prepare(): Promise<void> {
    const base = path.join(this.options.root, this.dir);
    rmSync(base, { recursive: true, force: true });
    for (const d of ['etc', 'cache', 'lib', 'spool', 'run', 'log', 'log/cdr-custom']) mkdirSync(path.join(base, d), { recursive: true });
    cpSync(this.options.confDir, path.join(base, 'etc'), { recursive: true });
    // asterisk-conf/ names /opt/pbx; another instance's files go in its own directory.
    if (this.dir !== PBX_DIR) {
      for (const name of ['asterisk.conf', 'manager.conf']) {
        const file = path.join(base, 'etc', name);
        writeFileSync(file, readFileSync(file, 'utf8').replaceAll(`${PBX_DIR}/`, `${this.dir}/`));
      }
    }
    const guardUser = path.join(base, 'etc/manager.d/asterisk-guard.conf');
    for (const file of [guardUser, path.join(base, 'etc/ari.conf')]) {
      writeFileSync(file, readFileSync(file, 'utf8').replace('change-me-to-a-long-random-string', this.amiSecret));
    }
    // The lab's guard runs the toll-fraud guard: its lines of the section, as an admin turns them on.
    writeFileSync(guardUser, withTollFraudRights(readFileSync(guardUser, 'utf8')));
    withLogOnlyDoors(path.join(base, 'etc'));
    const keys = path.join(base, 'etc/keys');
    mkdirSync(keys, { recursive: true });
    await execa('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=asterisk-guard lab', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', path.join(keys, 'ami.key'), '-out', path.join(keys, 'ami.pem')]);
  }

  /** The AMI TLS certificate, for a client that checks it. */
  get tlsCertificate(): string {
    return path.join(this.options.root, this.dir, 'etc/keys/ami.pem');
  }

  /**
   * When the lab had Asterisk down (ms since the epoch; `to` undefined while it is down): a real
   * phone's REGISTER fails then too and is retried, so the phone tally counts those apart.
   */
  readonly downtimes: Array<{ from: number; to: number | undefined }> = [];

  async start(): Promise<void> {
    const { root, namespace } = this.options;
    const procDir = path.join(root, 'proc');
    const mounted = await execa('mountpoint', ['-q', procDir], { reject: false });
    if (mounted.exitCode !== 0) {
      await execa('mount', ['-t', 'proc', 'proc', procDir]);
      this.mountedProc = true;
    }
    this.process = execa(
      'ip',
      ['netns', 'exec', namespace, 'chroot', root, 'asterisk', '-C', `${this.dir}/etc/asterisk.conf`, '-f', '-n', '-q'],
      { reject: false, stdout: 'ignore', stderr: 'ignore', stdin: 'ignore' },
    );
    for (let i = 0; i < 100; i++) {
      const r = await this.cli('core waitfullybooted').catch(() => undefined);
      if (r !== undefined && r.includes('fully booted')) {
        const down = this.downtimes.at(-1);
        if (down && down.to === undefined) down.to = Date.now();
        return;
      }
      if (this.process.exitCode !== null) throw new Error('Asterisk exited during startup');
      await new Promise((res) => setTimeout(res, 200));
    }
    throw new Error('Asterisk did not finish booting within 20 s');
  }

  /** Runs an Asterisk CLI command through its control socket. */
  async cli(command: string): Promise<string> {
    const { root, namespace } = this.options;
    const r = await execa('ip', ['netns', 'exec', namespace, 'chroot', root, 'asterisk', '-C', `${this.dir}/etc/asterisk.conf`, '-rx', command], {
      timeout: 10_000,
    });
    return String(r.stdout);
  }

  /** Pauses or resumes the process: a dead peer that keeps its TCP connections open. */
  async signal(signal: 'SIGSTOP' | 'SIGCONT'): Promise<void> {
    // `ip netns exec` and `chroot` exec in place, so the child's pid is Asterisk's.
    this.process?.kill(signal);
  }

  async stop(): Promise<void> {
    const child = this.process;
    this.process = undefined;
    if (child && child.exitCode === null) {
      this.downtimes.push({ from: Date.now(), to: undefined });
      await this.cli('core stop now').catch(() => undefined);
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await child;
      clearTimeout(timer);
    }
  }

  /** Kills Asterisk outright (SIGKILL: no shutdown, as a crash); `start` brings it back. */
  async kill(): Promise<void> {
    const child = this.process;
    this.process = undefined;
    if (child && child.exitCode === null) {
      this.downtimes.push({ from: Date.now(), to: undefined });
      child.kill('SIGKILL');
      await child;
    }
  }

  /** Was Asterisk down (stopped by the lab) at any time between `from` and `to`? */
  downBetween(from: number, to: number): boolean {
    return this.downtimes.some((d) => d.from <= to && (d.to ?? Infinity) >= from);
  }

  /** Stops Asterisk and unmounts what start mounted. */
  async dispose(): Promise<void> {
    await this.stop();
    if (this.mountedProc) await execa('umount', [path.join(this.options.root, 'proc')], { reject: false });
    this.mountedProc = false;
  }
}
