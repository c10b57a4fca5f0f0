import { execa } from 'execa';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabAsterisk } from '../../src/lab/asterisk.js';
import { LabNetwork } from '../../src/lab/netns.js';
import { GuardProcess } from '../../src/lab/guard-process.js';
import { amiBruteForce, labAsterisk, writeConfig } from '../support/lab.js';
import { sleep } from '../support/udp.js';

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

function config(extra = ''): string {
  return writeConfig(`store:
  path: ${stateDir}/state.db
control:
  socket: ${stateDir}/control.sock
ami:
  manager_conf: ${asterisk.managerConf}
  ping_interval: ${PING_MS}ms
  reconnect_base: 200ms
  reconnect_max: 1s
${extra}`);
}

async function bannedInKernel(): Promise<string> {
  const r = await execa('ip', ['netns', 'exec', pbx, 'nft', 'list', 'set', 'inet', 'asterisk_guard', 'banned_v4'], { reject: false });
  return String(r.stdout);
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

  it('stops on SIGTERM with exit 0 and leaves the bans in the kernel', async () => {
    guard!.kill('SIGTERM');
    const { exitCode } = await guard!.exit();
    expect(exitCode).toBe(0);
    guard = undefined;
    const set = await bannedInKernel();
    expect(set).toContain(ATK);
    expect(set).toContain(ATK2);
    await sleep(0);
  });
});
