import { execa } from 'execa';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { netnsRunner } from '../../src/enforce/command-runner.js';
import { NftablesDriver } from '../../src/enforce/nftables-driver.js';
import type { LabAsterisk } from '../../lab/asterisk.js';
import { LabNetwork } from '../../lab/netns.js';
import { GuardProcess } from '../../lab/guard-process.js';
import { amiBruteForce, labAsterisk, writeConfig } from '../support/lab.js';
import { until } from '../support/until.js';

// The daemon end to end against a real Asterisk 22 in a namespace: AMI login, security events,
// bans in the kernel, a dead peer, a restart, shutdown.

const PBX = '192.0.2.1';
const ATK = '203.0.113.66';
const ATK2 = '203.0.113.67';
const PING_MS = 1000;

let net: LabNetwork;
let asterisk: LabAsterisk;
let guard: GuardProcess | undefined;
let pbx: string;

const stateDir = mkdtempSync(path.join(tmpdir(), 'ag-daemon-'));
const socketPath = path.join(stateDir, 'control.sock');
const CLI = new URL('../../dist/src/cli.js', import.meta.url).pathname;
const cli = (...args: string[]) => execa(process.execPath, [CLI, ...args, '--socket', socketPath], { reject: false });

function rawRequest(line: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const s = connect(socketPath, () => s.write(`${line}\n`));
    let buf = '';
    s.on('data', (d) => {
      buf += String(d);
      if (buf.includes('\n')) {
        s.end();
        resolve(JSON.parse(buf));
      }
    });
    s.on('error', reject);
  });
}

function config(extra = ''): string {
  return writeConfig(`store:
  path: ${stateDir}/state.db
control:
  socket: ${stateDir}/control.sock
metrics:
  enabled: true
ami:
  manager_conf: ${asterisk.managerConf}
  ping_interval: ${PING_MS}ms
  reconnect_base: 200ms
  reconnect_max: 1s
${extra}`);
}

/** The IPv4 bans in the kernel, one per line, as the driver reads them back from every set. */
async function bannedInKernel(): Promise<string> {
  const reader = new NftablesDriver(netnsRunner(pbx), { table: 'asterisk_guard', priority: -310 });
  return (await reader.list(Date.now())).filter((b) => b.prefix.family === 4).map((b) => b.prefix.text).join('\n');
}

describe('asterisk-guard run, against a real Asterisk', () => {
  beforeAll(async () => {
    net = await LabNetwork.create('agami', { name: 'pbx', addresses: [PBX] }, [{ name: 'atk', addresses: [ATK, ATK2] }]);
    pbx = net.ns('pbx');
    asterisk = await labAsterisk(pbx);
  });

  afterAll(async () => {
    guard?.kill('SIGKILL');
    await asterisk?.dispose();
    await net?.destroy();
  });

  it('exits non-zero at startup, naming the problem, when Asterisk refuses the secret', async () => {
    const g = GuardProcess.start(pbx, ['run', '--config', writeConfig(`store:\n  path: ${stateDir}/wrong.db\ncontrol:\n  socket: ${stateDir}/wrong.sock\nami:\n  secret: not-the-secret\nlog:\n  level: silent\n`)]);
    const { exitCode, stderr } = await g.exit();
    expect(exitCode).toBe(1);
    expect(stderr).toMatch(/AG_ERR_AMI_AUTH: Asterisk at 127\.0\.0\.1:5038 refused the login of user "asterisk-guard": Authentication failed/);
  });

  it('exits with the config code when manager.conf has no such user, saying what to add', async () => {
    const g = GuardProcess.start(pbx, ['run', '--config', config('  username: nobody\n')]);
    const { exitCode, stderr } = await g.exit();
    expect(exitCode).toBe(3);
    expect(stderr).toMatch(/AG_ERR_MANAGER_CONF: .*no \[nobody\] user: add the section/);
  });

  it('logs in over TLS on the port manager.conf gives, checking the certificate', async () => {
    const g = GuardProcess.start(pbx, ['run', '--config', config(`  tls:\n    ca: ${asterisk.tlsCertificate}\n`)]);
    try {
      const connected = await g.waitFor((l) => l.msg === 'AMI connected, receiving security events', 15_000);
      expect(connected).toMatchObject({ port: 5039, host: '127.0.0.1' });
    } finally {
      g.kill('SIGTERM');
      expect((await g.exit()).exitCode).toBe(0);
    }
  });

  it('refuses a TLS peer whose certificate it cannot verify', async () => {
    const g = GuardProcess.start(pbx, ['run', '--config', config('  tls: true\n')]);
    try {
      const lost = await g.waitFor((l) => l.msg === 'AMI connection lost; reconnecting', 15_000);
      expect(String(lost['reason'])).toMatch(/self[- ]signed/i);
    } finally {
      g.kill('SIGTERM');
      await g.exit();
    }
  });

  it('reads manager.conf, logs in and bans an AMI brute force within threshold + 1 answered guesses', async () => {
    guard = GuardProcess.start(pbx, ['run', '--config', config()]);
    await guard.waitFor((l) => l.msg === 'AMI connected, receiving security events', 15_000);
    const result = await amiBruteForce(net.ns('atk'), ATK, PBX, 15, 'admin');
    expect(result.answered).toBeGreaterThanOrEqual(5);
    expect(result.answered).toBeLessThanOrEqual(6);
    const ban = await guard.waitFor((l) => l.msg === `ban ${ATK}`, 5000);
    expect(ban).toMatchObject({ prefix: ATK, reason: 'brute-force', evidence: { services: ['AMI'], accounts: ['admin'] } });
    expect(await bannedInKernel()).toContain(ATK);
  });

  it('notices within a canary interval that security events stopped (read = security dropped), and when they are back', async () => {
    const userConf = path.join(path.dirname(asterisk.managerConf), 'manager.d', 'asterisk-guard.conf');
    const original = readFileSync(userConf, 'utf8');
    const file = writeConfig(`store:\n  path: ${stateDir}/canary.db\ncontrol:\n  socket: ${stateDir}/canary.sock\nami:\n  manager_conf: ${asterisk.managerConf}\ncanary:\n  interval: 2s\n  timeout: 1500ms\nfirewall:\n  driver: dry-run\n`);
    const g = GuardProcess.start(pbx, ['run', '--config', file]);
    try {
      await g.waitFor((l) => l.msg === 'AMI connected, receiving security events', 15_000);
      const canaryStatus = async () => (JSON.parse(String((await execa(process.execPath, [CLI, 'status', '--json', '--socket', `${stateDir}/canary.sock`], { reject: false })).stdout)) as { canary: { ok: boolean | null } | null }).canary;
      for (let i = 0; i < 60 && (await canaryStatus())?.ok !== true; i++) await new Promise((r) => setTimeout(r, 100));
      expect(await canaryStatus()).toMatchObject({ ok: true });
      // A reload changes what the next login gets; Asterisk restarted, the guard logs in again
      // and stays connected, pinging, and sees nothing.
      // Every read line (the toll-fraud one too, turned on in the lab): the admin's section, broken.
      writeFileSync(userConf, original.replace(/^read = .*$/gm, 'read = system'));
      await asterisk.stop();
      await asterisk.start();
      const blind = await g.waitFor((l) => typeof l.msg === 'string' && l.msg.startsWith('blind: no security event from Asterisk'), 15_000);
      expect(String(blind.msg)).toMatch(/read = security/);
      writeFileSync(userConf, original);
      await asterisk.stop();
      await asterisk.start();
      await g.waitFor((l) => l.msg === 'security events arrive again: the canary AMI login was reported', 15_000);
    } finally {
      if (readFileSync(userConf, 'utf8') !== original) {
        writeFileSync(userConf, original);
        await asterisk.stop();
        await asterisk.start();
      }
      g.kill('SIGTERM');
      await g.exit();
    }
  });

  it('serves Prometheus metrics on 127.0.0.1', async () => {
    const r = await execa('ip', ['netns', 'exec', pbx, process.execPath, '-e', "fetch('http://127.0.0.1:9471/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))"]);
    const text = String(r.stdout);
    expect(text).toMatch(/^asterisk_guard_security_events_total\{service="AMI",kind="FailedACL"\} ([5-9]|\d\d)$/m);
    expect(text).toMatch(/^asterisk_guard_bans_total\{reason="brute-force"\} 1$/m);
    expect(text).toMatch(/^asterisk_guard_active_bans 1$/m);
    expect(text).toMatch(/^asterisk_guard_ami_connected 1$/m);
    expect(text).toMatch(/^asterisk_guard_decisions_total\{outcome="ban"\} 1$/m);
    expect(text).toMatch(/^asterisk_guard_decision_latency_seconds_count\{stage="kernel"\} 1$/m);
    expect(text).toMatch(/^asterisk_guard_decision_latency_seconds_count\{stage="conntrack"\} 1$/m);
  });

  it('notices a frozen Asterisk within two Ping intervals', async () => {
    const from = guard!.lines.length;
    const frozenAt = Date.now();
    await asterisk.signal('SIGSTOP');
    try {
      const lost = await guard!.waitFor((l) => l.msg === 'AMI connection lost; reconnecting', 4 * PING_MS, from);
      expect(lost['reason']).toMatch(/no answer to Ping/);
      expect(lost.time! - frozenAt).toBeLessThanOrEqual(2 * PING_MS + 300);
    } finally {
      await asterisk.signal('SIGCONT');
    }
    await guard!.waitFor((l) => l.msg === 'AMI connected, receiving security events', 10_000, from);
  });

  it('reconnects after Asterisk restarts and bans the next attacker', async () => {
    const from = guard!.lines.length;
    await asterisk.stop();
    await guard!.waitFor((l) => l.msg === 'AMI connection lost; reconnecting', 5000, from);
    await asterisk.start();
    await guard!.waitFor((l) => l.msg === 'AMI connected, receiving security events', 10_000, from);
    const result = await amiBruteForce(net.ns('atk'), ATK2, PBX, 15, 'nosuchuser');
    expect(result.answered).toBeLessThanOrEqual(6);
    await guard!.waitFor((l) => l.msg === `ban ${ATK2}`, 5000, from);
  });

  it('answers the admin CLI: status, list, ban, unban, why, allow, disallow', async () => {
    const status = JSON.parse(String((await cli('status', '--json')).stdout)) as { ami: { connected: boolean }; active_bans: number };
    expect(status.ami.connected).toBe(true);
    expect(status.active_bans).toBe(2);
    const list = JSON.parse(String((await cli('list', '--json')).stdout)) as Array<{ prefix: string; origin: string }>;
    expect(list.map((b) => b.prefix).sort()).toEqual([ATK, ATK2]);

    const ban = await cli('ban', '203.0.113.128/25', '--for', '1h', '--reason', 'abuse report');
    expect(ban.exitCode).toBe(0);
    expect(String(ban.stdout)).toMatch(/^banned 203\.0\.113\.128\/25 until /);
    expect(await bannedInKernel()).toContain('203.0.113.128/25');

    const unban = await cli('unban', '203.0.113.128/25');
    expect(unban.exitCode).toBe(0);
    expect(await bannedInKernel()).not.toContain('203.0.113.128/25');
    expect(String((await cli('list')).stdout)).not.toContain('203.0.113.128/25');
    const again = await cli('unban', '203.0.113.128/25');
    expect(again.exitCode).toBe(4);
    expect(String(again.stderr)).toMatch(/is not banned/);

    const why = JSON.parse(String((await cli('why', ATK, '--json')).stdout)) as { offenses: { events: Record<string, number>; accounts: string[] }; bans: Array<{ reason: string }>; decisions: unknown[] };
    expect(why.offenses.accounts).toEqual(['admin']);
    expect(why.offenses.events['FailedACL']).toBeGreaterThanOrEqual(5);
    expect(why.bans[0]!.reason).toBe('brute-force');

    expect((await cli('allow', '203.0.113.99')).exitCode).toBe(0);
    const refused = await cli('ban', '203.0.113.99');
    expect(refused.exitCode).toBe(1);
    expect(String(refused.stderr)).toMatch(/203\.0\.113\.99 is allow-listed/);
    const allowSet = await execa('ip', ['netns', 'exec', pbx, 'nft', 'list', 'set', 'inet', 'asterisk_guard', 'allowed_v4']);
    expect(String(allowSet.stdout)).toContain('203.0.113.99');
    expect((await cli('disallow', '203.0.113.99')).exitCode).toBe(0);
    expect((await cli('disallow', '203.0.113.99')).exitCode).toBe(4);
  });

  it('answers malformed admin requests with an error, on a socket only root can open', async () => {
    expect(statSync(socketPath).mode & 0o777).toBe(0o600);
    for (const line of ['garbage', '{"cmd":"ban","prefix":"203.0.113.1; flush ruleset"}', '{"cmd":"nope"}', '{"cmd":"ban","prefix":"203.0.113.1","extra":1}', '[]', `{"cmd":"why","address":"${'9'.repeat(100)}"}`]) {
      const answer = await rawRequest(line);
      expect(answer, line).toMatchObject({ ok: false, error: { code: 'AG_ERR_CONTROL_REQUEST' } });
    }
    expect(JSON.parse(String((await cli('status', '--json')).stdout))).toMatchObject({ ami: { connected: true } });
  });

  it('rebuilds its table within a second when something else flushes the ruleset, says so once, and status shows the kernel', async () => {
    const from = guard!.lines.length;
    const flushed = Date.now();
    await execa('ip', ['netns', 'exec', pbx, 'nft', 'flush', 'ruleset']);
    const restored = await guard!.waitFor((l) => typeof l.msg === 'string' && l.msg.includes('changed by something else'), 1500, from);
    expect(Date.now() - flushed).toBeLessThan(1500);
    expect(restored.msg).toMatch(/nft table inet asterisk_guard changed by something else \(table inet asterisk_guard is gone\); restored \d+ bans in \d+ ms/);
    const v4 = await bannedInKernel();
    expect(v4).toContain(ATK);
    expect(v4).toContain(ATK2);
    const status = JSON.parse(String((await cli('status', '--json')).stdout)) as { kernel: { table: string; repairs: number } };
    expect(status.kernel).toMatchObject({ table: 'whole', repairs: 1 });
    expect(guard!.lines.slice(from).filter((l) => typeof l.msg === 'string' && l.msg.includes('changed by something else'))).toHaveLength(1);
  });

  it('exports and imports bans; a restart makes the kernel match the store, foreign elements gone', async () => {
    const exported = await cli('export');
    const file = path.join(stateDir, 'bans.json');
    writeFileSync(file, String(exported.stdout));
    expect((JSON.parse(String(exported.stdout)) as { bans: unknown[] }).bans).toHaveLength(2);
    const many = { bans: Array.from({ length: 6000 }, (_, i) => ({ prefix: `2001:db8:${(i + 1).toString(16)}::/64`, until: Date.now() + 3_600_000 })) };
    writeFileSync(path.join(stateDir, 'many.json'), JSON.stringify(many));
    const imported = await cli('import', path.join(stateDir, 'many.json'));
    expect(String(imported.stdout)).toMatch(/imported 6000 bans/);
    expect(String(imported.stderr)).toMatch(/\[#+\] 6000\/6000/);

    guard!.kill('SIGTERM');
    expect((await guard!.exit()).exitCode).toBe(0);
    await execa('ip', ['netns', 'exec', pbx, 'nft', 'flush', 'set', 'inet', 'asterisk_guard', 'banned_v4_32']);
    await execa('ip', ['netns', 'exec', pbx, 'nft', 'add', 'element', 'inet', 'asterisk_guard', 'banned_v4_32', '{ 198.51.100.200 }']);
    guard = GuardProcess.start(pbx, ['run', '--config', config()]);
    const reconciled = await guard.waitFor((l) => l.msg === 'kernel bans reconciled with the store', 15_000);
    expect(reconciled['bans']).toBe(6002);
    const v4 = await bannedInKernel();
    expect(v4).toContain(ATK);
    expect(v4).toContain(ATK2);
    expect(v4).not.toContain('198.51.100.200');
    const v6 = await execa('ip', ['netns', 'exec', pbx, 'nft', '-j', 'list', 'set', 'inet', 'asterisk_guard', 'banned_v6_64']);
    const v6Set = (JSON.parse(String(v6.stdout)) as { nftables: Array<{ set?: { elem?: unknown[] } }> }).nftables.find((x) => x.set)!.set!;
    expect(v6Set.elem).toHaveLength(6000);
    await guard.waitFor((l) => l.msg === 'AMI connected, receiving security events', 15_000);
  });

  it('notices its store deleted while running, recreates it from the copy still open, and says so', async () => {
    const from = guard!.lines.length;
    rmSync(path.join(stateDir, 'state.db'));
    rmSync(path.join(stateDir, 'state.db-wal'), { force: true });
    rmSync(path.join(stateDir, 'state.db-shm'), { force: true });
    // The next write batch finds the file gone.
    expect((await cli('ban', '198.51.100.77', '--for', '1h')).exitCode).toBe(0);
    const recreated = await guard!.waitFor((l) => /^state database .* was deleted while the daemon ran: recreated/.test(String(l.msg)), 5000, from);
    expect(recreated['level']).toBe(50);
    await until(() => statSync(path.join(stateDir, 'state.db'), { throwIfNoEntry: false }) !== undefined);
    expect(statSync(path.join(stateDir, 'state.db')).mode & 0o777).toBe(0o600);
    expect(String((await cli('why', ATK)).stdout)).toMatch(/"reason": "brute-force"/);
  });

  it('stops on SIGTERM with exit 0 and leaves the bans in the kernel', async () => {
    guard!.kill('SIGTERM');
    const { exitCode } = await guard!.exit();
    expect(exitCode).toBe(0);
    guard = undefined;
    const set = await bannedInKernel();
    expect(set).toContain(ATK);
    expect(set).toContain(ATK2);
  });

  it('keeps the bans of the kernel when it starts with its store gone, records them and says so', async () => {
    for (const f of ['state.db', 'state.db-wal', 'state.db-shm']) rmSync(path.join(stateDir, f), { force: true });
    guard = GuardProcess.start(pbx, ['run', '--config', config()]);
    const kept = await guard.waitFor((l) => /is new, but the kernel's table holds \d+ bans: they are kept/.test(String(l.msg)), 15_000);
    expect(kept['bans']).toBeGreaterThanOrEqual(6002);
    const reconciled = await guard.waitFor((l) => l.msg === 'kernel bans reconciled with the store', 15_000);
    expect(reconciled['bans']).toBe(kept['bans']);
    const set = await bannedInKernel();
    expect(set).toContain(ATK);
    expect(set).toContain('198.51.100.77');
    await guard.waitFor((l) => l.msg === 'AMI connected, receiving security events', 15_000);
    const listed = String((await cli('list')).stdout);
    expect(listed).toMatch(new RegExp(`${ATK.replaceAll('.', '\\.')} .*kept from the kernel`));
    guard.kill('SIGTERM');
    expect((await guard.exit()).exitCode).toBe(0);
    guard = undefined;
  });
});
