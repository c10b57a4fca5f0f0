import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabAsterisk } from '../../lab/asterisk.js';
import { ensureSystemdRoot, SystemdContainer } from '../../lab/systemd-container.js';
import { PROJECT_ROOT } from '../../src/paths.js';
import { labAsterisk } from '../support/lab.js';

// The unit under a real systemd: a Debian 12 root booted with systemd-nspawn (PID 1 is
// systemd), the lab's Asterisk 22 in the container's network namespace, the guard installed
// with `install-service` as an admin would, then started, reloaded, stalled, stopped.

const NAME = 'agsystemd';
const CLI = '/opt/asterisk-guard/dist/src/cli.js';
const CONFIG = '/etc/asterisk-guard/config.yaml';
const BANNED = '203.0.113.9';
const JOURNAL_ATTACKER = '203.0.113.91';

let container: SystemdContainer;
let asterisk: LabAsterisk;

const inside = (...args: string[]) => container.exec(args, { reject: false });
const guardCli = (...args: string[]) => inside('/usr/bin/node', CLI, ...args, '--config', CONFIG);

async function show(...properties: string[]): Promise<Record<string, string>> {
  const r = await inside('systemctl', 'show', 'asterisk-guard', ...properties.map((p) => `--property=${p}`));
  return Object.fromEntries(String(r.stdout).split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

/** The service's log lines, parsed (the daemon writes one JSON object per line to stdout). */
async function journal(): Promise<Array<Record<string, unknown>>> {
  const r = await inside('journalctl', '--unit=asterisk-guard', '--output=cat', '--no-pager');
  return String(r.stdout)
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function waitFor(what: string, check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const bannedInKernel = async () => String((await inside('nft', 'list', 'set', 'inet', 'asterisk_guard', 'banned_v4_32')).stdout);

describe('asterisk-guard under systemd (systemd-nspawn, Debian 12)', () => {
  beforeAll(async () => {
    const root = await ensureSystemdRoot({ cacheDir: process.env['AG_LAB_CACHE'] ?? '/var/cache/asterisk-guard-lab', log: (l) => console.log(l) });
    container = await SystemdContainer.boot({ name: NAME, root, bindReadOnly: [`${process.execPath}:/usr/bin/node`, `${PROJECT_ROOT}:/opt/asterisk-guard`] });
    asterisk = await labAsterisk(NAME);
    await container.writeFile(CONFIG, `ami:\n  host: 127.0.0.1\n  port: 5038\n  secret: ${asterisk.amiSecret}\n`);
  }, 300_000);

  afterAll(async () => {
    await inside('systemctl', 'stop', 'asterisk-guard');
    await asterisk?.dispose();
    await container?.stop();
  });

  it('installs with install-service and starts: READY from Type=notify, with its status text', async () => {
    const installed = await inside('/usr/bin/node', CLI, 'install-service', '--config', CONFIG);
    expect(installed.exitCode, String(installed.stderr)).toBe(0);
    expect(String(installed.stdout)).toMatch(/created system user asterisk-guard/);
    const started = await inside('systemctl', 'start', 'asterisk-guard');
    expect(started.exitCode, String(started.stderr)).toBe(0);
    // `systemctl start` of a Type=notify unit returns once the daemon said READY=1: the kernel
    // reconciled, the admin socket up. The status text then says events arrive.
    expect(await show('ActiveState', 'SubState')).toEqual({ ActiveState: 'active', SubState: 'running' });
    await waitFor('the AMI login', async () => (await show('StatusText')).StatusText === 'receiving AMI security events');
  });

  it('carries its JSON logs in the journal', async () => {
    const lines = await journal();
    expect(lines.some((l) => l['msg'] === 'AMI connected, receiving security events')).toBe(true);
    expect(lines.every((l) => typeof l['level'] === 'number' && typeof l['time'] === 'number')).toBe(true);
  });

  it('runs as its own user with CAP_NET_ADMIN and nothing else', async () => {
    const { MainPID } = await show('MainPID');
    const proc = String((await inside('cat', `/proc/${MainPID}/status`)).stdout);
    const field = (name: string) => new RegExp(`^${name}:\\s+(.*)$`, 'm').exec(proc)![1]!;
    const uid = String((await inside('id', '-u', 'asterisk-guard')).stdout).trim();
    expect(field('Uid').split(/\s+/)).toEqual([uid, uid, uid, uid]);
    // CAP_NET_ADMIN is bit 12.
    expect(field('CapEff')).toBe('0000000000001000');
    expect(field('CapBnd')).toBe('0000000000001000');
    expect(field('NoNewPrivs')).toBe('1');
    // Ahead of an Asterisk under attack (Nice=-10): field 19 of /proc/PID/stat.
    const stat = String((await inside('cat', `/proc/${MainPID}/stat`)).stdout);
    expect(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]).toBe('-10');
  });

  it('is writable only where the unit says (ProtectSystem=strict)', async () => {
    const { MainPID } = await show('MainPID');
    const tryWrite = async (dir: string) => (await inside('nsenter', '-t', String(MainPID), '-m', 'touch', `${dir}/asterisk-guard-probe`)).exitCode === 0;
    expect(await tryWrite('/var/lib/asterisk-guard')).toBe(true);
    expect(await tryWrite('/run/asterisk-guard')).toBe(true);
    for (const dir of ['/etc', '/usr/lib', '/var/lib', '/opt']) expect(await tryWrite(dir), dir).toBe(false);
    // The state it keeps is its own, 0600.
    expect(String((await inside('stat', '-c', '%U %a', '/var/lib/asterisk-guard/state.db')).stdout).trim()).toBe('asterisk-guard 600');
  });

  it('bans through its admin socket under SystemCallFilter=@system-service: nft and conntrack run', async () => {
    const banned = await guardCli('ban', BANNED, '--for', '1h');
    expect(banned.exitCode, String(banned.stderr)).toBe(0);
    expect(await bannedInKernel()).toContain(BANNED);
    const lines = await journal();
    expect(lines.filter((l) => /failed/.test(String(l['msg'])))).toEqual([]);
  });

  it('applies `systemctl reload` (SIGHUP): a new allow entry reaches the kernel', async () => {
    await container.writeFile(CONFIG, `ami:\n  host: 127.0.0.1\n  port: 5038\n  secret: ${asterisk.amiSecret}\npolicy:\n  allow: [198.51.100.55]\n`);
    await inside('chown', 'asterisk-guard:asterisk-guard', CONFIG);
    const reloaded = await inside('systemctl', 'reload', 'asterisk-guard');
    expect(reloaded.exitCode, String(reloaded.stderr)).toBe(0);
    await waitFor('the reload', async () => (await journal()).some((l) => l['msg'] === 'config reloaded'));
    await waitFor('the allow entry', async () => String((await inside('nft', 'list', 'set', 'inet', 'asterisk_guard', 'allowed_v4')).stdout).includes('198.51.100.55'));
    expect((await show('ActiveState')).ActiveState).toBe('active');
  });

  it("follows Asterisk's syslog channel in the journal (asterisk_log.journal) as group systemd-journal, and bans from it", async () => {
    await container.writeFile(CONFIG, `ami:\n  host: 127.0.0.1\n  port: 5038\n  secret: ${asterisk.amiSecret}\nasterisk_log:\n  journal: {}\n`);
    const installed = await inside('/usr/bin/node', CLI, 'install-service', '--config', CONFIG);
    expect(String(installed.stdout)).toMatch(/reads the journal as group systemd-journal/);
    await inside('systemctl', 'daemon-reload');
    expect((await inside('systemctl', 'restart', 'asterisk-guard')).exitCode).toBe(0);
    await waitFor('the AMI login', async () => (await show('StatusText')).StatusText === 'receiving AMI security events');
    // As Asterisk's syslog channel writes them (ident asterisk, main/logger.c's syslog format):
    // an anonymous endpoint's calls to nowhere, which raise no security event.
    const lines = Array.from({ length: 5 }, (_, i) => `NOTICE[556]: res_pjsip_session.c:3930 in new_invite: anonymous: Call (UDP:${JOURNAL_ATTACKER}:5060) to extension '00972${i}' rejected because extension not found in context 'from-anon'.`);
    expect((await container.exec(['systemd-cat', '--identifier=asterisk', '--priority=notice'], { input: `${lines.join('\n')}\n` })).exitCode).toBe(0);
    await waitFor('the ban from the journal', async () => (await bannedInKernel()).includes(JOURNAL_ATTACKER));
  });

  it('is restarted by the watchdog when it stalls', async () => {
    // Shorter than the unit's 30 s for the test. A SIGSTOPped process ignores the watchdog's
    // SIGABRT until killed: TimeoutAbortSec bounds that (the unit's TimeoutStopSec, 20 s, would).
    await container.writeFile('/etc/systemd/system/asterisk-guard.service.d/watchdog.conf', '[Service]\nWatchdogSec=2s\nTimeoutAbortSec=2s\n', '644');
    await inside('systemctl', 'daemon-reload');
    await inside('systemctl', 'restart', 'asterisk-guard');
    const { MainPID: stalled } = await show('MainPID');
    // The shell's kill: a minimal Debian has no /bin/kill (procps).
    expect((await inside('sh', '-c', `kill -STOP ${stalled}`)).exitCode).toBe(0);
    await waitFor('a new main process', async () => {
      const s = await show('MainPID', 'ActiveState');
      return s.MainPID !== stalled && s.MainPID !== '0' && s.ActiveState === 'active';
    }, 20_000);
    const log = String((await inside('journalctl', '--unit=asterisk-guard', '--no-pager')).stdout);
    expect(log).toMatch(/[Ww]atchdog timeout/);
  });

  it('stays up, READY and watched, while Asterisk cannot be reached; its status says so', async () => {
    await container.writeFile(CONFIG, `ami:\n  host: 127.0.0.1\n  port: 5999\n  secret: ${asterisk.amiSecret}\n`);
    await inside('chown', 'asterisk-guard:asterisk-guard', CONFIG);
    expect((await inside('systemctl', 'restart', 'asterisk-guard')).exitCode).toBe(0);
    const { MainPID: waiting } = await show('MainPID');
    // Longer than two watchdog periods (2 s, above): the pings go on while it waits.
    await new Promise((r) => setTimeout(r, 5000));
    const s = await show('MainPID', 'ActiveState', 'StatusText');
    expect(s.MainPID).toBe(waiting);
    expect(s.ActiveState).toBe('active');
    expect(s.StatusText).toMatch(/^waiting for the first AMI login .*ECONNREFUSED.*bans in the kernel hold, reconnecting$/);
    expect(await bannedInKernel()).toContain(BANNED);
  });

  it('stops cleanly; its bans stay in the kernel', async () => {
    const stopped = await inside('systemctl', 'stop', 'asterisk-guard');
    expect(stopped.exitCode).toBe(0);
    expect((await show('ActiveState', 'Result')).Result).toBe('success');
    expect(await bannedInKernel()).toContain(BANNED);
  });
});
