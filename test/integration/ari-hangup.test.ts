import { execa, type ResultPromise } from 'execa';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabAsterisk } from '../../lab/asterisk.js';
import { GuardProcess } from '../../lab/guard-process.js';
import { LabNetwork } from '../../lab/netns.js';
import { labAsterisk, writeConfig } from '../support/lab.js';

// A call placed with a guessed password is running; the caller is banned; Asterisk hangs the
// call up through ARI within a second.

const PBX = '192.0.2.1';
const CALLER = '203.0.113.71';
const SIP_CALL = new URL('../../dist/lab/sip-call.js', import.meta.url).pathname;
const CLI = new URL('../../dist/src/cli.js', import.meta.url).pathname;

let net: LabNetwork;
let asterisk: LabAsterisk;
let guard: GuardProcess | undefined;
let call: ResultPromise | undefined;
const dir = mkdtempSync(path.join(tmpdir(), 'ag-ari-'));

describe('ARI hang-up of a banned source', () => {
  beforeAll(async () => {
    net = await LabNetwork.create('agari', { name: 'pbx', addresses: [PBX] }, [{ name: 'caller', addresses: [CALLER] }]);
    asterisk = await labAsterisk(net.ns('pbx'));
    guard = GuardProcess.start(net.ns('pbx'), ['run', '--config', writeConfig(`store:\n  path: ${dir}/state.db\ncontrol:\n  socket: ${dir}/control.sock\nami:\n  manager_conf: ${asterisk.managerConf}\n`)]);
    await guard.waitFor((l) => l.msg === 'AMI connected, receiving security events', 15_000);
  });

  afterAll(async () => {
    call?.kill('SIGKILL');
    guard?.kill('SIGKILL');
    await asterisk?.dispose();
    await net?.destroy();
  });

  it('says at start that ARI answers: its HTTP client is loaded before the first ban', async () => {
    await guard!.waitFor((l) => l.msg === 'ARI answers: live calls of banned sources will be hung up', 5000);
  });

  it('hangs up the running call within 1 second of the ban', async () => {
    expect(guard!.lines.some((l) => String(l.msg).includes('ARI hang-up of banned sources'))).toBe(false);
    call = execa('ip', ['netns', 'exec', net.ns('caller'), process.execPath, SIP_CALL, CALLER, PBX, '1001', '9c1f4e7b2a-lab-1001-long-password', '600'], { reject: false, buffer: false });
    const events: Array<{ event: string; at: number }> = [];
    createInterface({ input: call.stdout! }).on('line', (l) => events.push({ ...(JSON.parse(l) as { event: string }), at: Date.now() }));
    for (let i = 0; i < 50 && !events.some((e) => e.event === 'up'); i++) await new Promise((r) => setTimeout(r, 100));
    expect(events.map((e) => e.event)).toEqual(['up']);
    expect(await asterisk.cli('core show channels count')).toMatch(/1 active call/);

    const bannedAt = Date.now();
    const ban = await execa(process.execPath, [CLI, 'ban', CALLER, '--socket', `${dir}/control.sock`]);
    expect(ban.exitCode).toBe(0);
    for (let i = 0; i < 30 && !events.some((e) => e.event === 'bye'); i++) await new Promise((r) => setTimeout(r, 50));
    const bye = events.find((e) => e.event === 'bye');
    expect(bye, 'Asterisk did not hang up the call').toBeDefined();
    expect(bye!.at - bannedAt).toBeLessThan(1000);
    expect(await asterisk.cli('core show channels count')).toMatch(/0 active calls/);
    const line = await guard!.waitFor((l) => String(l.msg).startsWith(`hung up 1 live call(s) from ${CALLER}`), 2000);
    expect(line['channels']).toEqual([expect.stringMatching(/^PJSIP\/1001-/)]);
  });
});
