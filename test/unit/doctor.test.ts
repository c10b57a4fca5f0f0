import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CommandRunner } from '../../src/enforce/command-runner.js';
import { parseConfig } from '../../src/config/load.js';
import { asteriskLogChecks, formatCheck, runDoctor } from '../../src/ops/doctor.js';
import { canaryCheck } from '../../src/parts/ami-part.js';
import { tableCheck } from '../../src/parts/kernel-part.js';

// The other-defender report, from a /proc and an nft made up for it (fail2ban runs for real
// in test/integration/daemon-ops.test.ts; CrowdSec is not installed on the test machines).

function fakeProc(comms: readonly string[]): string {
  const proc = mkdtempSync(path.join(tmpdir(), 'ag-proc-'));
  comms.forEach((comm, i) => {
    mkdirSync(path.join(proc, String(100 + i)));
    writeFileSync(path.join(proc, String(100 + i), 'comm'), `${comm}\n`);
  });
  mkdirSync(path.join(proc, 'self'));
  return proc;
}

function fakeNft(tables: Record<string, string>): CommandRunner {
  return {
    prefix: [],
    async run(command, args) {
      if (command !== 'nft') return { exitCode: 0, stdout: '0', stderr: '' };
      if (args.join(' ') === 'list tables') return { exitCode: 0, stdout: Object.keys(tables).map((t) => `table ${t}`).join('\n'), stderr: '' };
      const key = `${args[2]} ${args[3]}`;
      if (args[0] === 'list' && args[1] === 'table' && tables[key] !== undefined) return { exitCode: 0, stdout: tables[key]!, stderr: '' };
      return { exitCode: 1, stdout: '', stderr: 'Error: No such file or directory' };
    },
  };
}

const config = (dir = mkdtempSync(path.join(tmpdir(), 'ag-doc-'))) => {
  const file = path.join(dir, 'config.yaml');
  writeFileSync(file, `ami:\n  secret: x\n  port: 1\n  login_timeout: 100ms\nstore:\n  path: ${dir}/state.db\nfirewall:\n  driver: dry-run\ncontrol:\n  socket: ${dir}/control.sock\n`);
  return file;
};

/** A daemon's admin socket that answers `status` with `data`, for as long as the test runs. */
async function daemonAnswering(data: unknown): Promise<{ dir: string; close: () => void }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'ag-doc-'));
  const server = net.createServer((c) => c.once('data', () => c.end(`${JSON.stringify({ ok: true, data })}\n`)));
  await new Promise<void>((resolve) => server.listen(path.join(dir, 'control.sock'), resolve));
  return { dir, close: () => server.close() };
}

describe('doctor: what the running daemon knows', () => {
  const run = async (dir?: string) => runDoctor({ configFile: config(dir), sendTest: false, proc: fakeProc([]), runner: fakeNft({}) });

  it.each([
    [{ sent: '2026-11-25T06:00:00.000Z', ok: true, echo_ms: 3 }, 'ok', /security events arrive: the last canary \(2026-11-25T06:00:00.000Z\) was reported in 3 ms/],
    [{ sent: '2026-11-25T06:00:00.000Z', ok: false, echo_ms: null }, 'fail', /was not reported by Asterisk: the guard is blind/],
    [null, 'info', /no canary sent yet/],
  ])('shows the last canary %j as %s', async (canary, status, detail) => {
    const daemon = await daemonAnswering({ checks: [...canaryCheck(canary, parseConfig('{}', 'test')), ...tableCheck({ table: 'whole', repairs: 2 })] });
    try {
      const results = await run(daemon.dir);
      expect(results.find((r) => r.check === 'canary')).toMatchObject({ status, detail: expect.stringMatching(detail) });
      expect(results.find((r) => r.check === 'kernel table')).toMatchObject({ status: 'ok', detail: 'whole; restored 2 time(s) since start' });
      if (status === 'fail') expect(results.find((r) => r.check === 'canary')!.fix).toMatch(/read = security/);
    } finally {
      daemon.close();
    }
  });

  it('fails on a table the daemon finds incomplete, and says so when no daemon answers', async () => {
    const daemon = await daemonAnswering({ checks: tableCheck({ table: 'set banned4', repairs: 0 }) });
    try {
      expect((await run(daemon.dir)).find((r) => r.check === 'kernel table')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/set banned4 missing/) });
    } finally {
      daemon.close();
    }
    expect((await run()).find((r) => r.check === 'daemon')).toMatchObject({ status: 'info', detail: expect.stringMatching(/^not reachable on .*control.sock/) });
  });
});

describe('doctor: the parts of the daemon', () => {
  it('prints the checks every part reports, including one it does not know', async () => {
    const daemon = await daemonAnswering({ checks: [{ check: 'a new part', status: 'fail', detail: 'it says what is wrong', fix: 'and what to do' }] });
    try {
      const results = await runDoctor({ configFile: config(daemon.dir), sendTest: false, proc: fakeProc([]), runner: fakeNft({}) });
      expect(results).toContainEqual({ check: 'a new part', status: 'fail', detail: 'it says what is wrong', fix: 'and what to do' });
    } finally {
      daemon.close();
    }
  });

  it('says so when the daemon answers status without checks (an older version still running)', async () => {
    const daemon = await daemonAnswering({ canary: null });
    try {
      const results = await runDoctor({ configFile: config(daemon.dir), sendTest: false, proc: fakeProc([]), runner: fakeNft({}) });
      expect(results.find((r) => r.check === 'daemon')).toMatchObject({ status: 'info', detail: expect.stringMatching(/older asterisk-guard/) });
    } finally {
      daemon.close();
    }
  });
});

describe('doctor: other defenders', () => {
  it('reports CrowdSec and fail2ban with their tables, and whether they drop on the SIP port', async () => {
    const results = await runDoctor({
      configFile: config(),
      sendTest: false,
      proc: fakeProc(['bash', 'crowdsec', 'crowdsec-firewa', 'fail2ban-server']),
      runner: fakeNft({
        'ip crowdsec': 'table ip crowdsec {\n  chain crowdsec-chain {\n    ip saddr @crowdsec-blacklists drop\n  }\n}',
        'ip6 crowdsec6': 'table ip6 crowdsec6 {\n}',
        'inet f2b-table': 'table inet f2b-table {\n  chain f2b-chain {\n    udp dport { 5060, 5061 } ip saddr @addr-set-asterisk-udp reject\n  }\n}',
      }),
    });
    const crowdsec = results.find((r) => r.check === 'CrowdSec')!;
    expect(crowdsec).toMatchObject({ status: 'info', detail: 'CrowdSec is running; its nft tables: ip crowdsec, ip6 crowdsec6' });
    expect(results.find((r) => r.check === 'fail2ban')!.detail).toMatch(/^fail2ban is running; its nft tables: inet f2b-table and drops on the SIP port/);
    expect(formatCheck(crowdsec)).toMatch(/^info CrowdSec: /);
  });

  it('says nothing of a defender that neither runs nor left a table, and reports a table left behind', async () => {
    const results = await runDoctor({ configFile: config(), sendTest: false, proc: fakeProc(['sshd']), runner: fakeNft({ 'inet f2b-table': 'table inet f2b-table {\n}' }) });
    expect(results.find((r) => r.check === 'CrowdSec')).toBeUndefined();
    expect(results.find((r) => r.check === 'fail2ban')).toMatchObject({ status: 'info', detail: 'fail2ban is not running; its nft tables: inet f2b-table' });
  });
});

describe('doctor: the toll-fraud guard\'s AMI rights', () => {
  const SHIPPED = new URL('../../asterisk-conf/manager.d/asterisk-guard.conf', import.meta.url).pathname;
  const setup = async (section: string, fraud: boolean) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ag-doc-'));
    writeFileSync(path.join(dir, 'manager.conf'), `[general]\nenabled = yes\nport = 1\n#include asterisk-guard.conf\n`);
    writeFileSync(path.join(dir, 'asterisk-guard.conf'), section);
    const file = path.join(dir, 'config.yaml');
    writeFileSync(file, `ami:\n  manager_conf: ${dir}/manager.conf\n  login_timeout: 100ms\nstore:\n  path: ${dir}/state.db\nfirewall:\n  driver: dry-run\ncontrol:\n  socket: ${dir}/control.sock\n${fraud ? 'fraud: { country: GB }\n' : ''}`);
    const results = await runDoctor({ configFile: file, sendTest: false, proc: fakeProc([]), runner: fakeNft({}) });
    return results.find((r) => r.check === 'toll-fraud rights');
  };

  it('fails with the lines to turn on when the shipped section meets a fraud: section', async () => {
    const { readFileSync } = await import('node:fs');
    const shipped = readFileSync(SHIPPED, 'utf8');
    expect(await setup(shipped, true)).toMatchObject({ status: 'fail', detail: expect.stringMatching(/`read = security` lacks call.*`write = ` lacks system/), fix: expect.stringMatching(/;toll-fraud/) });
    const { withTollFraudRights } = await import('../../lab/asterisk.js');
    expect(await setup(withTollFraudRights(shipped), true)).toMatchObject({ status: 'ok' });
    // Without a fraud: section the least rights are right: no such check.
    expect(await setup(shipped, false)).toBeUndefined();
  });
});

describe("doctor: Asterisk's own log", () => {
  const etcWith = (files: Record<string, string>) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ag-etc-'));
    for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
    return dir;
  };
  const configFor = (etc: string, files: string[] | undefined) =>
    parseConfig(`ami: { manager_conf: ${etc}/manager.conf }\n${files ? `asterisk_log: { files: [${files.join(', ')}] }` : ''}`, 'test');

  it('says which followed file gets NOTICE lines, as logger.conf and asterisk.conf place it', () => {
    const etc = etcWith({
      'asterisk.conf': '[directories]\nastlogdir => /srv/pbx/log\n',
      'logger.conf': '[general]\n[logfiles]\nconsole => notice\nmessages.log => notice,warning,error\nfull => [plain]warning,error,verbose\n/var/log/pbx.log => *\nsyslog.local0 => notice\n',
    });
    const checks = asteriskLogChecks(configFor(etc, ['/srv/pbx/log/messages.log', '/srv/pbx/log/full', '/var/log/pbx.log', '/srv/pbx/log/security']), 'pbx1');
    expect(checks.map((c) => c.status)).toEqual(['ok', 'fail', 'ok', 'fail']);
    expect(checks[1]!.detail).toMatch(/gets warning,error,verbose but not notice/);
    expect(checks[3]!.detail).toMatch(/writes no \/srv\/pbx\/log\/security; its files: \/srv\/pbx\/log\/messages.log, \/srv\/pbx\/log\/full, \/var\/log\/pbx.log/);
  });

  it('appends the hostname with appendhostname; reads iax.conf authdebug (off by default)', () => {
    const etc = etcWith({ 'logger.conf': '[general]\nappendhostname = yes\n[logfiles]\nmessages => notice\n', 'iax.conf': '[general]\nbindport = 4569\n' });
    const checks = asteriskLogChecks(configFor(etc, ['/var/log/asterisk/messages.pbx1']), 'pbx1');
    expect(checks.map((c) => [c.check, c.status])).toEqual([['asterisk log', 'ok'], ['iax2 authdebug', 'fail']]);
    writeFileSync(path.join(etc, 'iax.conf'), '[general]\nauthdebug = yes\n');
    expect(asteriskLogChecks(configFor(etc, ['/var/log/asterisk/messages.pbx1']), 'pbx1')[1]).toMatchObject({ check: 'iax2 authdebug', status: 'ok' });
  });

  it('names a logger.conf it cannot read, and says when the section is off', () => {
    const etc = etcWith({ 'logger.conf': '[logfiles]\nthis is not a line\n' });
    expect(asteriskLogChecks(configFor(etc, ['/var/log/asterisk/messages']))[0]).toMatchObject({ status: 'fail', detail: expect.stringMatching(/logger\.conf:2: expected key = value/) });
    expect(asteriskLogChecks(configFor(etc, undefined))[0]).toMatchObject({ status: 'info', detail: expect.stringMatching(/asterisk_log is off/) });
  });
});
