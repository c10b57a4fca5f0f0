import { execa, type ResultPromise } from 'execa';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

// Debian's fail2ban as an admin runs it: its own asterisk jail and filter, the nftables action,
// reading Asterisk's messages log (which has the security channel). It runs in the PBX's
// namespace with a configuration directory of its own, so nothing on the host is touched.

export interface Fail2banOptions {
  readonly namespace: string;
  /** Asterisk's log with the security channel, as fail2ban's asterisk jail reads it. */
  readonly logFile: string;
  readonly maxretry: number;
  /** Sources fail2ban must leave to the other defender. */
  readonly ignore: readonly string[];
}

const SYSTEM_CONFIG = '/etc/fail2ban';

export class LabFail2ban {
  private constructor(
    private readonly options: Fail2banOptions,
    private readonly dir: string,
    private readonly server: ResultPromise,
  ) {}

  static async start(options: Fail2banOptions): Promise<LabFail2ban> {
    const dir = mkdtempSync(path.join(tmpdir(), 'ag-f2b-'));
    // Debian's files, without jail.d (which turns the sshd jail on).
    for (const item of ['fail2ban.conf', 'jail.conf', 'paths-common.conf', 'paths-debian.conf', 'filter.d', 'action.d']) {
      cpSync(path.join(SYSTEM_CONFIG, item), path.join(dir, item), { recursive: true });
    }
    writeFileSync(
      path.join(dir, 'fail2ban.local'),
      `[Definition]\nlogtarget = ${dir}/fail2ban.log\nsocket = ${dir}/fail2ban.sock\npidfile = ${dir}/fail2ban.pid\ndbfile = ${dir}/fail2ban.sqlite3\n`,
    );
    writeFileSync(
      path.join(dir, 'jail.local'),
      `[DEFAULT]
banaction = nftables-multiport
banaction_allports = nftables-allports
backend = auto
ignoreip = 127.0.0.1/8 ::1 ${options.ignore.join(' ')}

[asterisk]
enabled = true
logpath = ${options.logFile}
maxretry = ${options.maxretry}
findtime = 600
bantime = 600
`,
    );
    const server = execa('ip', ['netns', 'exec', options.namespace, 'fail2ban-server', '-f', '-x', '-c', dir], { reject: false, all: true });
    const f2b = new LabFail2ban(options, dir, server);
    for (let i = 0; i < 100; i++) {
      if ((await f2b.client(['status', 'asterisk'])).exitCode === 0) return f2b;
      await new Promise((r) => setTimeout(r, 200));
    }
    await f2b.stop();
    throw new Error(`fail2ban did not start its asterisk jail: ${readLog(dir)}`);
  }

  /** Whether fail2ban's nft set holds the source now. */
  async bans(source: string): Promise<boolean> {
    const r = await execa('ip', ['netns', 'exec', this.options.namespace, 'nft', 'list', 'set', 'inet', 'f2b-table', 'addr-set-asterisk-udp'], { reject: false });
    return r.exitCode === 0 && new RegExp(`[\\s{,]${source.replaceAll('.', '\\.')}[\\s,}]`).test(String(r.stdout));
  }

  /** Stops the server (its actions remove fail2ban's table) and removes its files. */
  async stop(): Promise<void> {
    await this.client(['stop']);
    const exited = await Promise.race([this.server.then(() => true), new Promise((r) => setTimeout(() => r(false), 10_000))]);
    if (!exited) this.server.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }

  private client(args: readonly string[]) {
    return execa('ip', ['netns', 'exec', this.options.namespace, 'fail2ban-client', '-c', this.dir, ...args], { reject: false });
  }
}

function readLog(dir: string): string {
  try {
    return readFileSync(path.join(dir, 'fail2ban.log'), 'utf8').split('\n').slice(-10).join('\n');
  } catch {
    return 'no log';
  }
}
