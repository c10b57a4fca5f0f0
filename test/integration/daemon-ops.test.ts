import { execa, type ResultPromise } from 'execa';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabAsterisk } from '../../lab/asterisk.js';
import { LabFail2ban } from '../../lab/fail2ban.js';
import { GuardProcess } from '../../lab/guard-process.js';
import { LabNetwork } from '../../lab/netns.js';
import type { CheckResult } from '../../src/ops/doctor.js';
import { amiBruteForce, labAsterisk } from '../support/lab.js';

// The daemon as an admin runs it: under systemd's notify protocol, reloaded with SIGHUP,
// checked by `doctor`, beside fail2ban, and uninstalled. Against a real Asterisk 22.

const PBX = '192.0.2.1';
const ATK = '203.0.113.80';
const ATK2 = '203.0.113.81';
const ATK3 = '203.0.113.82';
const CLI = new URL('../../dist/src/cli.js', import.meta.url).pathname;
const SIP_GUESS = new URL('../../dist/lab/sip-guess.js', import.meta.url).pathname;
const LISTENER = new URL('../support/notify-listener.py', import.meta.url).pathname;

let net: LabNetwork;
let asterisk: LabAsterisk;
let guard: GuardProcess | undefined;
let pbx: string;
let listener: ResultPromise;
const notified: string[] = [];
const dir = mkdtempSync(path.join(tmpdir(), 'ag-ops-'));
// Readable by the unprivileged user of the no-capabilities doctor run.
chmodSync(dir, 0o755);
const configFile = path.join(dir, 'config.yaml');
const notifySocket = path.join(dir, 'notify.sock');

function baseConfig(extra = ''): string {
  return `store:
  path: ${dir}/state.db
control:
  socket: ${dir}/control.sock
ami:
  manager_conf: ${asterisk.managerConf}
  ping_interval: 1s
  reconnect_base: 200ms
  reconnect_max: 1s
${extra}`;
}

function writeFile(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

const inPbx = (args: string[], extra: string[] = []) => execa('ip', ['netns', 'exec', pbx, ...extra, process.execPath, CLI, ...args], { reject: false });

async function doctor(config: string, extra: string[] = []): Promise<{ exitCode: number | undefined; results: CheckResult[] }> {
  const r = await inPbx(['doctor', '--json', '--config', config], extra);
  return { exitCode: r.exitCode, results: JSON.parse(String(r.stdout)) as CheckResult[] };
}

const status = (results: readonly CheckResult[], check: string) => results.find((r) => r.check === check)?.status;

async function waitNotified(match: (line: string) => boolean, from: number, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!notified.slice(from).some(match)) {
    if (Date.now() > until) throw new Error(`no such notification; got: ${notified.join(' | ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('asterisk-guard as a service: systemd, reload, doctor, fail2ban beside it, uninstall', () => {
  beforeAll(async () => {
    net = await LabNetwork.create('agops', { name: 'pbx', addresses: [PBX] }, [{ name: 'atk', addresses: [ATK, ATK2, ATK3] }]);
    pbx = net.ns('pbx');
    asterisk = await labAsterisk(pbx);
    listener = execa('python3', [LISTENER, notifySocket], { buffer: false, reject: false });
    createInterface({ input: listener.stdout! }).on('line', (l) => notified.push(l));
    while (!notified.includes('listening')) await new Promise((r) => setTimeout(r, 20));
  });

  afterAll(async () => {
    guard?.kill('SIGKILL');
    listener?.kill('SIGKILL');
    await asterisk?.dispose();
    await net?.destroy();
  });

  it('tells systemd READY once it receives events, then pings the watchdog', async () => {
    writeFileSync(configFile, baseConfig());
    guard = GuardProcess.start(pbx, ['run', '--config', configFile], { NOTIFY_SOCKET: notifySocket, WATCHDOG_USEC: '400000' });
    await guard.waitFor((l) => l.msg === 'AMI connected, receiving security events', 15_000);
    // Written 0644 here: the daemon starts, and says the config is too open.
    expect(guard.lines.some((l) => /is readable by its group and every user \(mode 0644\) and may hold secrets.*chmod 600/.test(String(l.msg)))).toBe(true);
    await waitNotified((l) => l.startsWith('READY=1 STATUS=waiting for the first AMI login'), 0);
    await waitNotified((l) => l === 'STATUS=receiving AMI security events', 0);
    const ready = notified.length;
    await waitNotified((l) => l === 'WATCHDOG=1', ready, 2000);
    await waitNotified((l) => l === 'WATCHDOG=1', notified.lastIndexOf('WATCHDOG=1') + 1, 2000);
  });

  it('reloads on SIGHUP: a new allow entry reaches the kernel, the AMI connection and bans stay', async () => {
    const from = guard!.lines.length;
    const notes = notified.length;
    writeFileSync(configFile, baseConfig('policy:\n  allow: [198.51.100.55]\ndetect:\n  threshold: 3\n'));
    guard!.kill('SIGHUP');
    const reloaded = await guard!.waitFor((l) => l.msg === 'config reloaded', 5000, from);
    expect(reloaded['needs_restart']).toEqual([]);
    await waitNotified((l) => l === 'RELOADING=1', notes);
    await waitNotified((l) => l === 'READY=1', notes);
    const allowed = await execa('ip', ['netns', 'exec', pbx, 'nft', 'list', 'set', 'inet', 'asterisk_guard', 'allowed_v4']);
    expect(String(allowed.stdout)).toContain('198.51.100.55');
    expect(guard!.lines.slice(from).some((l) => l.msg === 'AMI connection lost; reconnecting')).toBe(false);
    // The new threshold (3) applies at once.
    const attack = await amiBruteForce(net.ns('atk'), ATK, PBX, 10, 'admin');
    expect(attack.answered).toBeLessThanOrEqual(4);
    await guard!.waitFor((l) => l.msg === `ban ${ATK}`, 5000, from);
  });

  it('refuses an invalid config on SIGHUP, names the key and line, and keeps running on the old one', async () => {
    const from = guard!.lines.length;
    writeFileSync(configFile, baseConfig('detect:\n  treshold: 3\n'));
    guard!.kill('SIGHUP');
    const refused = await guard!.waitFor((l) => l.msg === 'config reload refused; the running config stays', 5000, from);
    expect(String(refused['err'])).toMatch(/AG_ERR_CONFIG.*:\d+.*treshold/);
    const attack = await amiBruteForce(net.ns('atk'), ATK2, PBX, 10, 'admin');
    expect(attack.answered).toBeLessThanOrEqual(4);
    await guard!.waitFor((l) => l.msg === `ban ${ATK2}`, 5000, from);
  });

  it('says which changed keys wait for a restart', async () => {
    const from = guard!.lines.length;
    writeFileSync(configFile, baseConfig('policy:\n  allow: [198.51.100.55]\n').replace('ping_interval: 1s', 'ping_interval: 2s'));
    guard!.kill('SIGHUP');
    const reloaded = await guard!.waitFor((l) => l.msg !== undefined && l.msg.startsWith('config reloaded'), 5000, from);
    expect(reloaded['needs_restart']).toEqual(['ami']);
  });

  it('doctor passes against the running daemon, one line each', async () => {
    // It may hold secrets: readable by its owner only, or doctor fails it (below).
    chmodSync(configFile, 0o600);
    const { exitCode, results } = await doctor(configFile);
    expect(results.filter((r) => r.status === 'fail')).toEqual([]);
    expect(exitCode).toBe(0);
    expect(results.map((r) => r.check)).toEqual(expect.arrayContaining(['config', 'ami user', 'eventfilter', 'ami login', 'nft', 'conntrack', 'nf_tables', 'nf_conntrack', 'our table', 'store']));
    const text = await inPbx(['doctor', '--config', configFile]);
    expect(String(text.stdout).split('\n').filter((l) => l.startsWith('ok  ')).length).toBeGreaterThanOrEqual(10);
  });

  const general = '[general]\nenabled = yes\nport = 5038\nbindaddr = 127.0.0.1\n\n';
  const secret = () => /^secret = (.+)$/m.exec(readFileSync(path.join(path.dirname(asterisk.managerConf), 'manager.d', 'asterisk-guard.conf'), 'utf8'))![1]!;
  it.each([
    ['config', 'a key is misspelt', () => baseConfig('detect:\n  treshold: 3\n')],
    ['config permissions', 'every user may read the config', () => baseConfig()],
    ['ami login', 'the secret is wrong', () => baseConfig('  secret: not-the-secret\n')],
    ['ami login', 'nothing listens on the AMI port', () => baseConfig('  secret: x\n  port: 5999\n  login_timeout: 1s\n')],
    ['ami user', 'the user lacks read = security', () => baseConfig().replace(asterisk.managerConf, writeFile('no-read.conf', `${general}[asterisk-guard]\nsecret = x\nread = system\n`))],
    ['eventfilter', 'the user has no eventfilter', () => baseConfig().replace(asterisk.managerConf, writeFile('no-filter.conf', `${general}[asterisk-guard]\nsecret = ${secret()}\nread = security\n`))],
    ['our table', 'the table is missing', () => baseConfig('firewall:\n  table: not_there\n')],
    ['our table', 'the chain is not at the expected priority', () => baseConfig('firewall:\n  priority: -100\n')],
    ['store', 'the store cannot be written', () => baseConfig().replace(`path: ${dir}/state.db`, 'path: /nonexistent/asterisk-guard/state.db')],
    ['alerts: webhook 127.0.0.1:9', 'nothing listens for the webhook', () => baseConfig('alerts:\n  channels:\n    - type: webhook\n      url: http://127.0.0.1:9/\n')],
  ])('doctor fails the %s check when %s, with a fix, and exits 1', async (check, _why, text) => {
    const { exitCode, results } = await doctor(writeFile('broken.yaml', text()));
    const result = results.find((r) => r.check === check);
    expect(result?.status, JSON.stringify(results)).toBe('fail');
    expect(result?.fix).toMatch(/\S/);
    expect(exitCode).toBe(1);
  });

  it('doctor fails nft and conntrack without CAP_NET_ADMIN', async () => {
    const noCaps = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--ambient-caps=-all', '--bounding-set=-all'];
    const { exitCode, results } = await doctor(writeFile('nocaps.yaml', baseConfig().replace(`path: ${dir}/state.db`, `path: ${dir}/nocaps/state.db`)), noCaps);
    expect(status(results, 'nft')).toBe('fail');
    expect(status(results, 'conntrack')).toBe('fail');
    expect(exitCode).toBe(1);
  });

  it('doctor --send-test sends a test alert through each channel', async () => {
    const received: string[] = [];
    const server: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += String(d)));
      req.on('end', () => {
        received.push(body);
        res.end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      // In the test's own namespace, where the receiver listens: only the alert line matters.
      const r = await execa(process.execPath, [CLI, 'doctor', '--json', '--send-test', '--config', writeFile('send.yaml', baseConfig(`alerts:\n  channels:\n    - type: webhook\n      url: http://127.0.0.1:${port}/hook\n`))], { reject: false });
      const results = JSON.parse(String(r.stdout)) as CheckResult[];
      expect(results.find((x) => x.check.startsWith('alerts:'))).toMatchObject({ status: 'ok', detail: 'test alert sent' });
      expect(received.join('')).toContain('test alert from asterisk-guard doctor');
    } finally {
      server.close();
    }
  });

  it('works beside fail2ban\'s asterisk jail: both ban, doctor reports it, removing either leaves the other working', async () => {
    const f2b = await LabFail2ban.start({ namespace: pbx, logFile: path.join(asterisk.logDir, 'messages'), maxretry: 5, ignore: [] });
    try {
      // A source neither has banned yet: SIP password guesses, as both watch them.
      const from = guard!.lines.length;
      const guess = await execa('ip', ['netns', 'exec', net.ns('atk'), process.execPath, SIP_GUESS, ATK3, PBX, '1001', '20'], { reject: false });
      expect(guess.exitCode, String(guess.stderr)).toBe(0);
      await guard!.waitFor((l) => l.msg === `ban ${ATK3}`, 5000, from);
      for (let i = 0; i < 100 && !(await f2b.bans(ATK3)); i++) await new Promise((r) => setTimeout(r, 100));
      expect(await f2b.bans(ATK3)).toBe(true);
      expect(guard!.lines.slice(from).some((l) => l.msg === 'firewall update failed; bans kept queued and retried')).toBe(false);

      const { results } = await doctor(configFile);
      expect(results.find((r) => r.check === 'fail2ban')).toMatchObject({ status: 'info', detail: expect.stringMatching(/running; its nft tables: inet f2b-table and drops on the SIP port/) });

      // asterisk-guard removed: fail2ban keeps its table and its ban.
      guard!.kill('SIGTERM');
      await guard!.exit();
      expect((await inPbx(['uninstall', '--config', configFile])).exitCode).toBe(0);
      expect(await f2b.bans(ATK3)).toBe(true);
      const second = await inPbx(['uninstall', '--config', configFile]);
      expect(second.exitCode).toBe(4);
    } finally {
      await f2b.stop();
    }
    // fail2ban removed: asterisk-guard starts, puts its bans back from its store, and bans.
    guard = GuardProcess.start(pbx, ['run', '--config', configFile]);
    await guard.waitFor((l) => l.msg === 'AMI connected, receiving security events', 15_000);
    const tables = String((await execa('ip', ['netns', 'exec', pbx, 'nft', 'list', 'tables'])).stdout);
    expect(tables).toContain('table inet asterisk_guard');
    expect(tables).not.toContain('f2b-table');
    const set = String((await execa('ip', ['netns', 'exec', pbx, 'nft', 'list', 'set', 'inet', 'asterisk_guard', 'banned_v4_32'])).stdout);
    expect(set).toContain(ATK3);
  });
});
