import { execa } from 'execa';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GuardProcess } from '../../lab/guard-process.js';
import { LabNetwork } from '../../lab/netns.js';
import { writeConfig } from '../support/lab.js';

// What the daemon watches besides Asterisk. A PBX's connection tracking table filled to the
// kernel's limit (nf_conntrack_max cannot be lowered in a namespace: the lab's filler takes all
// of it) drops every new flow; the daemon tells so within its check interval, and tells again
// once there is room. And the file system of its state database running out of room is told
// before a write fails.

const FILL = new URL('../../dist/lab/conntrack-fill.js', import.meta.url).pathname;
const CLI = new URL('../../dist/src/cli.js', import.meta.url).pathname;

let net: LabNetwork;
let guard: GuardProcess | undefined;
let config: string;
const dir = mkdtempSync(path.join(tmpdir(), 'ag-watch-'));
const inNs = (command: string, ...args: string[]) => execa('ip', ['netns', 'exec', net.ns('pbx'), command, ...args], { reject: false, timeout: 120_000 });
const cli = (...args: string[]) => execa(process.execPath, [CLI, ...args, '--socket', `${dir}/control.sock`], { reject: false });
const bannedInKernel = async () => String((await inNs('nft', 'list', 'set', 'inet', 'asterisk_guard', 'banned_v4_32')).stdout);
const start = async () => {
  guard = GuardProcess.start(net.ns('pbx'), ['run', '--config', config]);
  return guard.waitFor((l) => l.msg === 'kernel bans reconciled with the store', 15_000);
};

describe('what the daemon watches besides Asterisk', () => {
  beforeAll(async () => {
    net = await LabNetwork.create('agct', { name: 'pbx', addresses: ['192.0.2.1'] }, []);
    // The store on a 24 MB file system of which 10 MB are taken: 14 MB free, under the 16 MB mark.
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', dir]);
    writeFileSync(path.join(dir, 'filler'), Buffer.alloc(10 * 1024 * 1024));
    // The admin's stateful firewall: what makes the kernel track connections at all.
    await inNs('nft', 'add table inet admin { chain input { type filter hook input priority 0; policy accept; ct state established,related accept; }; }');
    await inNs('sysctl', '-qw', 'net.netfilter.nf_conntrack_udp_timeout_stream=600');
    // No Asterisk: a daemon waiting for its first AMI login already watches the kernel.
    config = writeConfig(`ami:\n  secret: x\n  port: 1\nstore:\n  path: ${dir}/state.db\ncontrol:\n  socket: ${dir}/control.sock\nfirewall:\n  check_interval: 1s\nlog:\n  level: info\n`);
    await start();
  });

  afterAll(async () => {
    guard?.kill('SIGKILL');
    await guard?.exit();
    await execa('umount', [dir], { reject: false });
    await net?.destroy();
  });

  it('tells at start that the state database has little room left, naming where and what to do', async () => {
    const low = await guard!.waitFor((l) => typeof l.msg === 'string' && l.msg.includes('free on the file system of'), 5000);
    // A warning, as its alert (store-disk-low) is: the store still writes.
    expect(low.level).toBe(40);
    expect(low.msg).toMatch(new RegExp(`^1[34]\\.\\d MB free on the file system of ${dir}, where the state database is`));
    expect(low.msg).toContain('move store.path');
  });

  it('tells a full connection tracking table within the check interval, with what to do, and again once there is room', async () => {
    const filled = await inNs(process.execPath, FILL);
    const { entries, max } = JSON.parse(String(filled.stdout)) as { entries: number; max: number };
    expect(entries).toBe(max);
    // A new flow now: a datagram from a port nothing used yet, dropped by the kernel.
    await inNs(process.execPath, '-e', "const s=require('dgram').createSocket('udp4');s.send('x',9,'127.0.0.1',()=>s.close())");
    const full = await guard!.waitFor((l) => typeof l.msg === 'string' && l.msg.startsWith('the connection tracking table is full'), 5000);
    expect(full.level).toBe(50);
    expect(full.msg).toContain(`of ${max.toLocaleString('en')} entries`);
    // Told at 95% if a look fell while the filler was at work, else at the first drop.
    expect(full.msg).toMatch(/(dropped [\d,]+|about to drop) packets of new connections/);
    expect(full.msg).toContain('net.netfilter.nf_conntrack_max');
    // The new flow's datagram was dropped: counted, as the kernel counts it.
    const status = async () => (JSON.parse(String((await execa(process.execPath, [CLI, 'status', '--json', '--socket', `${dir}/control.sock`], { reject: false })).stdout)) as { conntrack: { entries: number; max: number; drops: number } }).conntrack;
    let seen = await status();
    for (let i = 0; i < 50 && seen.drops === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      seen = await status();
    }
    expect(seen).toMatchObject({ entries: max, max });
    expect(seen.drops).toBeGreaterThan(0);

    await inNs('conntrack', '-F');
    const roomy = await guard!.waitFor((l) => typeof l.msg === 'string' && l.msg.startsWith('the connection tracking table has room again'), 5000);
    expect(roomy.level).toBe(30);
  });

  it('keeps a ban decided while the disk was full through a SIGKILL: kept from the kernel and recorded; a hand-added element goes', async () => {
    // The rest of the file system taken: the store's next writes fail and wait in memory.
    await execa('dd', ['if=/dev/zero', `of=${dir}/full`, 'bs=1M'], { reject: false });
    const refused = await cli('ban', '198.51.100.61', '--for', '1h');
    expect(refused.exitCode).toBe(0);
    expect(String(refused.stdout)).toMatch(/refuses writes, so its record is queued/);
    expect(await bannedInKernel()).toContain('198.51.100.61');
    guard!.kill('SIGKILL');
    await guard!.exit();
    rmSync(`${dir}/full`);
    await inNs('nft', 'add', 'element', 'inet', 'asterisk_guard', 'banned_v4_32', '{ 198.51.100.200 timeout 1h }');

    const reconciled = await start();
    expect(reconciled['bans']).toBe(1);
    const kept = await guard!.waitFor((l) => typeof l.msg === 'string' && l.msg.startsWith('the last run did not stop cleanly'), 1000);
    expect(kept.msg).toMatch(/the kernel holds 1 of the guard's bans the state database .*state\.db has no record of/);
    const set = await bannedInKernel();
    expect(set).toContain('198.51.100.61');
    expect(set).not.toContain('198.51.100.200');
    expect(String((await cli('list')).stdout)).toMatch(/198\.51\.100\.61 .*kept from the kernel/);

    // Recorded: after a clean stop the next start trusts the store alone, and the ban is in it.
    guard!.kill('SIGTERM');
    expect((await guard!.exit()).exitCode).toBe(0);
    expect((await start())['bans']).toBe(1);
    expect(guard!.lines.some((l) => typeof l.msg === 'string' && l.msg.startsWith('the last run did not stop cleanly'))).toBe(false);
    expect(await bannedInKernel()).toContain('198.51.100.61');
  });
});
