import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabAsterisk } from '../../lab/asterisk.js';
import { GuardProcess } from '../../lab/guard-process.js';
import { LabNetwork } from '../../lab/netns.js';
import { labAsterisk, writeConfig } from '../support/lab.js';

// The AstDB's blocks follow the store's at each AMI login, against a real Asterisk 22: a block
// cleared (`fraud clear`) while AMI was away left its key, which stopped the endpoint's calls
// until someone ran `database del` by hand.

let net: LabNetwork;
let asterisk: LabAsterisk;
let guard: GuardProcess | undefined;
const dir = mkdtempSync(path.join(tmpdir(), 'ag-blocks-'));

describe('the toll-fraud guard keeps the AstDB blocks in step with its store', () => {
  beforeAll(async () => {
    net = await LabNetwork.create('agfb', { name: 'pbx', addresses: ['192.0.2.1'] }, []);
    asterisk = await labAsterisk(net.ns('pbx'));
  });

  afterAll(async () => {
    guard?.kill('SIGKILL');
    await guard?.exit();
    await asterisk?.dispose();
    await net?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('deletes at login the key of a block its store does not hold, and leaves other families alone', async () => {
    await asterisk.cli('database put asterisk-guard/blocked 1099 "2026-12-05T00:00:00.000Z risky-number"');
    await asterisk.cli('database put asterisk-guard/other 1099 kept');
    expect(await asterisk.cli('database show asterisk-guard/blocked')).toContain('/asterisk-guard/blocked/1099');
    const config = writeConfig(`store:\n  path: ${dir}/state.db\ncontrol:\n  socket: ${dir}/control.sock\nami:\n  manager_conf: ${asterisk.managerConf}\nfraud:\n  country: GB\nfirewall:\n  driver: dry-run\n`);
    guard = GuardProcess.start(net.ns('pbx'), ['run', '--config', config]);
    const deleted = await guard.waitFor((l) => typeof l.msg === 'string' && l.msg.startsWith('deleted AstDB asterisk-guard/blocked/1099'), 15_000);
    expect(deleted.msg).toContain('the store holds no block of endpoint 1099');
    expect(await asterisk.cli('database show asterisk-guard/blocked')).not.toContain('1099');
    expect(await asterisk.cli('database show asterisk-guard/other')).toContain('/asterisk-guard/other/1099');
  });
});
