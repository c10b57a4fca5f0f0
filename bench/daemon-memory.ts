// Benchmark 7, as an admin sees it: the real daemon (`asterisk-guard run`, dry-run driver, its
// own command line: the shebang's V8 flags, the unit's environment, no forced collection) in its own process; RSS read from /proc the
// way `ps` and `systemctl status` read it, 30 s after the bans came in. Bans come in two ways:
// `asterisk-guard import` (the CLI, in chunks, as an admin runs it) and policy bans from
// security events over AMI (a local AMI peer answering in Asterisk's format). Benchmark 12's
// memory half: the same daemon with a blocklist feed of 100,000 entries (a local server
// answering as a plain list does, with an ETag), against the same daemon's 1,000-entry feed.
import { execa, type ResultPromise } from 'execa';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CLI, DAEMON_FLAGS, UNIT_ENV } from '../lab/guard-process.js';
import { amiPeer } from './ami-peer.js';

const SETTLE_MS = 30_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface DaemonMemoryFigure {
  readonly bans: number;
  readonly rssMb: number;
  /** Beyond the same daemon after 1,000 bans. */
  readonly bytesPerBan: number;
}

export interface DaemonMemoryResults {
  readonly baselineMb: number;
  readonly import100k: DaemonMemoryFigure;
  readonly import1M: DaemonMemoryFigure;
  readonly policyBaselineMb: number;
  readonly policy100k: DaemonMemoryFigure;
  readonly feedBaselineMb: number;
  /** bytesPerBan: per feed entry, beyond the 1,000-entry feed. */
  readonly feed100k: DaemonMemoryFigure;
}

/** The n-th address of 198.18.0.0/15 (benchmark addresses, RFC 2544). */
const address = (n: number) => {
  const a = 0xc6120000 + n;
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
};

function invalidAccount(n: number): string {
  return `Event: InvalidAccountID\r\nPrivilege: security,all\r\nEventTV: 2026-12-04T10:00:00.000+0000\r\nSeverity: Error\r\nService: PJSIP\r\nEventVersion: 1\r\nAccountID: bench\r\nSessionID: 0x${n.toString(16)}\r\nLocalAddress: IPV4/UDP/192.0.2.1/5060\r\nRemoteAddress: IPV4/UDP/${address(n)}/5060\r\n\r\n`;
}

class Daemon {
  private constructor(
    readonly dir: string,
    private readonly child: ResultPromise,
  ) {}

  static async start(dir: string, amiPort: number, more = ''): Promise<Daemon> {
    const config = path.join(dir, 'config.yaml');
    writeFileSync(
      config,
      `ami: { secret: bench, host: 127.0.0.1, port: ${amiPort} }\nstore: { path: ${dir}/state.db }\ncontrol: { socket: ${dir}/control.sock }\nfirewall: { driver: dry-run }\ncanary: { enabled: false }\nlog: { level: warn }\ndetect: { decoys: [bench] }\npolicy: { max_bans: 2000000, range: { threshold: 1000000000, flood_window: 0s }, subnet: { enabled: false } }\n${more}`,
      { mode: 0o600 },
    );
    const child = execa(process.execPath, [...DAEMON_FLAGS, CLI, 'run', '--config', config], { reject: false, stdout: 'ignore', stderr: 'ignore', env: UNIT_ENV });
    for (let i = 0; i < 100 && !existsSync(path.join(dir, 'control.sock')); i++) await sleep(100);
    return new Daemon(dir, child);
  }

  /** Resident memory as ps shows it, in MB. */
  rssMb(): number {
    const status = readFileSync(`/proc/${this.child.pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
  }

  async cli(...args: string[]): Promise<string> {
    return String((await execa(process.execPath, [CLI, ...args, '--config', path.join(this.dir, 'config.yaml')])).stdout);
  }

  async import(from: number, count: number): Promise<void> {
    const file = path.join(this.dir, 'import.json');
    const until = Date.now() + 7 * 86_400_000;
    writeFileSync(file, JSON.stringify({ bans: Array.from({ length: count }, (_, i) => ({ prefix: address(from + i), until, reason: 'imported' })) }));
    await this.cli('import', file);
    rmSync(file);
  }

  async activeBans(): Promise<number> {
    return (JSON.parse(await this.cli('status', '--json')) as { active_bans: number }).active_bans;
  }

  async feedDropped(): Promise<number> {
    return (JSON.parse(await this.cli('status', '--json')) as { feeds: Array<{ dropped: number }> }).feeds[0]!.dropped;
  }

  async stop(): Promise<void> {
    this.child.kill('SIGTERM');
    await this.child;
  }
}

/** RSS once the daemon has been left alone SETTLE_MS after its bans came in: what an admin sees. */
async function settled(d: Daemon, bans: number, baselineMb: number): Promise<DaemonMemoryFigure> {
  await sleep(SETTLE_MS);
  const rssMb = d.rssMb();
  return { bans, rssMb, bytesPerBan: ((rssMb - baselineMb) * 1024 * 1024) / (bans - 1000) };
}

export async function runDaemonMemoryBench(): Promise<DaemonMemoryResults> {
  const ami = await amiPeer('accept', '');
  try {
    const imports = await Daemon.start(mkdtempSync(path.join(tmpdir(), 'ag-dmem-')), ami.port);
    await imports.import(0, 1000);
    await sleep(SETTLE_MS);
    const baselineMb = imports.rssMb();
    await imports.import(1000, 99_000);
    const import100k = await settled(imports, 100_000, baselineMb);
    await imports.import(100_000, 900_000);
    const import1M = await settled(imports, 1_000_000, baselineMb);
    await imports.stop();

    const policy = await Daemon.start(mkdtempSync(path.join(tmpdir(), 'ag-dmem-')), ami.port);
    const feed = async (from: number, count: number) => {
      for (let i = from; i < from + count; i += 1000) {
        ami.send(Array.from({ length: Math.min(1000, from + count - i) }, (_, j) => invalidAccount(i + j)).join(''));
        await sleep(5);
      }
      while ((await policy.activeBans()) < from + count) await sleep(500);
    };
    await sleep(2000);
    await feed(0, 1000);
    await sleep(SETTLE_MS);
    const policyBaselineMb = policy.rssMb();
    await feed(1000, 99_000);
    const policy100k = await settled(policy, 100_000, policyBaselineMb);
    await policy.stop();

    const { feedBaselineMb, feed100k } = await feedMemory(ami.port);
    return { baselineMb, import100k, import1M, policyBaselineMb, policy100k, feedBaselineMb, feed100k };
  } finally {
    ami.close();
  }
}

/** The daemon with a feed of 1,000 entries, then of 100,000: RSS as an admin sees it. */
export async function feedMemory(amiPort: number): Promise<{ feedBaselineMb: number; feed100k: DaemonMemoryFigure }> {
  const list = await listServer();
  const feeds = await Daemon.start(mkdtempSync(path.join(tmpdir(), 'ag-dmem-')), amiPort, `feeds:\n  - { name: bench, type: list, url: "${list.url}", interval: 5s, max_entries: 200000 }\n`);
  const loaded = async (n: number) => {
    while ((await feeds.feedDropped()) !== n) await sleep(500);
  };
  list.serve(1000);
  await loaded(1000);
  await sleep(SETTLE_MS);
  const feedBaselineMb = feeds.rssMb();
  list.serve(100_000);
  await loaded(100_000);
  const feed100k = await settled(feeds, 100_000, feedBaselineMb);
  await feeds.stop();
  list.close();
  return { feedBaselineMb, feed100k };
}

/** A plain list as VoIPBL serves one: one address a line, an ETag, 304 when unchanged. */
async function listServer() {
  let body = '';
  let etag = '';
  const server = http.createServer((req, res) => {
    if (req.headers['if-none-match'] === etag) return void res.writeHead(304).end();
    res.writeHead(200, { 'Content-Type': 'text/plain', ETag: etag }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/voipbl.txt`,
    serve(entries: number) {
      body = `# bench list\n${Array.from({ length: entries }, (_, i) => address(i)).join('\n')}\n`;
      etag = `"${createHash('sha1').update(body).digest('hex')}"`;
    },
    close: () => server.close(),
  };
}
