import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabAsterisk } from '../../lab/asterisk.js';
import { compiled } from '../../lab/compiled.js';
import { GuardProcess } from '../../lab/guard-process.js';
import { LabNetwork } from '../../lab/netns.js';
import { labAsterisk, writeConfig } from '../support/lab.js';

// The toll-fraud guard's dealings with a real Asterisk 22 beyond its events:
// - the AstDB's blocks follow the store's at each AMI login: a block cleared (`fraud clear`)
//   while AMI was away left its key, which stopped the endpoint's calls until someone ran
//   `database del` by hand;
// - with no call event (the AMI user's `read` without `call`) the soak measured 5 of 5
//   fraudulent calls connected (docs/reliability.md, finding 6): the guard now reads Asterisk's
//   channel list (CoreShowChannels, allowed by `write = system`) and judges the calls it finds.

const PBX = '192.0.2.1';
const FRAUDSTER = '203.0.113.50';
const PREMIUM = '09098790000';

let net: LabNetwork;
let asterisk: LabAsterisk;
const guards: GuardProcess[] = [];
const dir = mkdtempSync(path.join(tmpdir(), 'ag-blocks-'));
const config = (more = '') => writeConfig(`store:\n  path: ${dir}/state.db\ncontrol:\n  socket: ${dir}/control.sock\nami:\n  manager_conf: ${asterisk.managerConf}\nfraud:\n  country: GB\n${more}firewall:\n  driver: dry-run\n`);

async function stopGuards(): Promise<void> {
  for (const g of guards.splice(0)) {
    g.kill('SIGKILL');
    await g.exit();
  }
}

describe('the toll-fraud guard and a real Asterisk', () => {
  beforeAll(async () => {
    net = await LabNetwork.create('agfb', { name: 'pbx', addresses: [PBX] }, [{ name: 'atk', addresses: [FRAUDSTER] }]);
    asterisk = await labAsterisk(net.ns('pbx'));
  });

  afterAll(async () => {
    await stopGuards();
    await asterisk?.dispose();
    await net?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('deletes at login the key of a block its store does not hold, and leaves other families alone', async () => {
    await asterisk.cli('database put asterisk-guard/blocked 1099 "2026-12-05T00:00:00.000Z risky-number"');
    await asterisk.cli('database put asterisk-guard/other 1099 kept');
    expect(await asterisk.cli('database show asterisk-guard/blocked')).toContain('/asterisk-guard/blocked/1099');
    const guard = GuardProcess.start(net.ns('pbx'), ['run', '--config', config()]);
    guards.push(guard);
    const deleted = await guard.waitFor((l) => typeof l.msg === 'string' && l.msg.startsWith('deleted AstDB asterisk-guard/blocked/1099'), 15_000);
    expect(deleted.msg).toContain('the store holds no block of endpoint 1099');
    expect(await asterisk.cli('database show asterisk-guard/blocked')).not.toContain('1099');
    expect(await asterisk.cli('database show asterisk-guard/other')).toContain('/asterisk-guard/other/1099');
  });

  it('cuts a premium-rate call it finds in the channel list when no call event comes, and blocks the endpoint', async () => {
    await stopGuards();
    // As an admin who turned the toll-fraud lines on, then took `call` out of `read`.
    const user = path.join(path.dirname(asterisk.managerConf), 'manager.d', 'asterisk-guard.conf');
    writeFileSync(user, readFileSync(user, 'utf8').replace(/^read = security,call$/m, 'read = security'));
    await asterisk.stop();
    await asterisk.start();
    expect(await asterisk.cli('manager show user asterisk-guard')).toMatch(/read perm: security\s*$/m);
    const guard = GuardProcess.start(net.ns('pbx'), ['run', '--config', config('  channel_poll: 200ms\n')]);
    guards.push(guard);
    await guard.waitFor((l) => typeof l.msg === 'string' && l.msg.startsWith('AMI connected'), 20_000);
    // The lab's carrier rings a second, then answers: a call judged within it never connects.
    const call = await execa('ip', ['netns', 'exec', net.ns('atk'), process.execPath, compiled('lab/sip-call.js'), FRAUDSTER, PBX, '1004', 'lab-1004-nobody-knows-this-one', PREMIUM, '2000'], { reject: false });
    const story = `${String(call.stdout)}\n${guard.lines.slice(-8).map((l) => JSON.stringify(l)).join('\n')}`;
    expect(String(call.stdout), story).not.toContain('"event":"up"');
    const decision = await guard.waitFor((l) => l.decision === 'fraud' && l.endpoint === '1004', 5000);
    expect(decision, story).toMatchObject({ verdict: 'block', number: PREMIUM });
    expect(await asterisk.cli('database show asterisk-guard/blocked')).toContain('/asterisk-guard/blocked/1004');
  });
});
