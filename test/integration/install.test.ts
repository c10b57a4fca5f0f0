import { execa } from 'execa';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManagerSettings } from '../../src/ami/manager-conf.js';
import { processRunner } from '../../src/enforce/command-runner.js';
import { NftablesDriver } from '../../src/enforce/nftables-driver.js';
import { installService } from '../../src/ops/install.js';
import { LabNetwork } from '../../lab/netns.js';
import { prefix } from '../support/prefix.js';

// Installing on a PBX: init, the systemd unit (verified by systemd's own tools), and the one
// capability the daemon needs, measured against the real kernel.

const CLI = new URL('../../dist/src/cli.js', import.meta.url).pathname;
const cli = (...args: string[]) => execa(process.execPath, [CLI, ...args], { reject: false });

describe('asterisk-guard init', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ag-init-'));
  const configFile = path.join(dir, 'etc', 'config.yaml');
  const managerConf = path.join(dir, 'asterisk', 'manager.conf');
  mkdirSync(path.dirname(managerConf), { recursive: true });
  writeFileSync(managerConf, '[general]\nenabled = yes\nport = 5038\nbindaddr = 127.0.0.1\n\n#include manager.d/*.conf\n');

  it('writes the sample config with mode 0600, shows the manager.conf section, and writes nothing else unasked', async () => {
    const r = await cli('init', '--config', configFile, '--manager-conf', managerConf);
    expect(r.exitCode).toBe(0);
    expect(statSync(configFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(configFile, 'utf8')).toBe(readFileSync(new URL('../../docs/config.sample.yaml', import.meta.url), 'utf8'));
    expect(String(r.stdout)).toMatch(/\[asterisk-guard\]\nsecret = [A-Za-z0-9_-]{32}\n/);
    expect(String(r.stdout)).toMatch(/not written/);
    expect(existsSync(path.join(dir, 'asterisk', 'manager.d', 'asterisk-guard.conf'))).toBe(false);
  });

  it('never overwrites the config; with --yes writes manager.d/asterisk-guard.conf that Asterisk\'s config reader accepts', async () => {
    writeFileSync(configFile, '# mine\n');
    const r = await cli('init', '--yes', '--config', configFile, '--manager-conf', managerConf);
    expect(r.exitCode).toBe(0);
    expect(readFileSync(configFile, 'utf8')).toBe('# mine\n');
    expect(String(r.stdout)).toMatch(/kept as it is/);
    const settings = readManagerSettings(managerConf, 'asterisk-guard', undefined);
    expect(settings.secret).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(settings.secret).not.toBe('change-me-to-a-long-random-string');
    const again = await cli('init', '--yes', '--config', configFile, '--manager-conf', managerConf);
    expect(String(again.stdout)).toMatch(/already has an \[asterisk-guard\] section/);
  });

  it('answers extra arguments with usage and exit 2', async () => {
    const r = await cli('init', 'now');
    expect(r.exitCode).toBe(2);
    expect(String(r.stderr)).toMatch(/init takes no arguments/);
  });
});

describe('the systemd unit', () => {
  const unitDir = mkdtempSync(path.join(tmpdir(), 'ag-unit-'));
  const unit = path.join(unitDir, 'asterisk-guard.service');

  beforeAll(async () => {
    const r = await cli('install-service', '--no-user', '--unit-dir', unitDir);
    expect(r.exitCode, String(r.stderr)).toBe(0);
  });

  it('starts this node on this CLI, as a notify service with a watchdog', () => {
    const text = readFileSync(unit, 'utf8');
    expect(text).toContain(`ExecStart=${process.execPath} --max-semi-space-size=2 --no-allocation-site-pretenuring ${CLI} run --config /etc/asterisk-guard/config.yaml`);
    for (const line of ['Type=notify', 'NotifyAccess=all', 'WatchdogSec=30s', 'Restart=on-failure', 'After=network-online.target asterisk.service', 'StateDirectory=asterisk-guard', 'RuntimeDirectory=asterisk-guard']) expect(text).toContain(line);
    expect(text).toContain('CapabilityBoundingSet=CAP_NET_ADMIN\n');
    expect(text).toContain('AmbientCapabilities=CAP_NET_ADMIN\n');
    expect(text).toContain('RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK\n');
  });

  it('warns when node lives where the unit cannot see it (nvm under /root), and not otherwise', () => {
    const said = (node: string) => {
      const lines: string[] = [];
      installService({ unitDir: mkdtempSync(path.join(tmpdir(), 'ag-unit2-')), configFile: '/etc/asterisk-guard/config.yaml', node, cli: '/usr/lib/node_modules/asterisk-guard/dist/src/cli.js', createUser: false, say: (l) => lines.push(l) });
      return lines.join('\n');
    };
    expect(said('/root/.nvm/versions/node/v20.20.2/bin/node')).toMatch(/warning: \/root\/\.nvm\S+ is under \/root or \/home/);
    expect(said('/usr/bin/node')).not.toMatch(/warning/);
  });

  it('passes systemd-analyze verify', async () => {
    const r = await execa('systemd-analyze', ['verify', unit], { reject: false, cwd: unitDir });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(String(r.stderr)).toBe('');
  });

  it('has the exposure score docs/systemd.md quotes, and it is "OK" or better', async () => {
    const r = await execa('systemd-analyze', ['security', '--offline=true', '--no-pager', unit], { reject: false });
    const score = /Overall exposure level for asterisk-guard\.service: (\d+\.\d) (\S+)/.exec(String(r.stdout));
    expect(score, String(r.stdout)).not.toBeNull();
    expect(Number(score![1])).toBeLessThanOrEqual(3.0);
    expect(readFileSync(new URL('../../docs/systemd.md', import.meta.url), 'utf8')).toContain(`exposure level for asterisk-guard.service: ${score![1]}`);
  });
});

describe('least privilege, measured', () => {
  let net: LabNetwork;
  const setpriv = (caps: boolean) => ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', `--inh-caps=-all${caps ? ',+net_admin' : ''}`, `--ambient-caps=-all${caps ? ',+net_admin' : ''}`, `--bounding-set=-all${caps ? ',+net_admin' : ''}`];

  beforeAll(async () => {
    net = await LabNetwork.create('agcap', { name: 'pbx', addresses: ['192.0.2.1'] }, []);
  });
  afterAll(async () => {
    await net?.destroy();
  });

  it('does all its firewall work as an unprivileged user holding CAP_NET_ADMIN alone', async () => {
    const driver = new NftablesDriver(processRunner(['ip', 'netns', 'exec', net.ns('pbx'), ...setpriv(true)]), { table: 'asterisk_guard', priority: -310 });
    await driver.init();
    await driver.ban([{ prefix: prefix('203.0.113.5'), until: Date.now() + 60_000 }, { prefix: prefix('2001:db8:5::/64'), until: null }], Date.now());
    await driver.flushConnections(prefix('203.0.113.5'), 'from');
    await driver.flushConnections(prefix('203.0.113.5'), 'to');
    await driver.reconcile([{ prefix: prefix('198.51.100.0/24'), until: null }], Date.now());
    expect((await driver.list(Date.now())).map((b) => b.prefix.text)).toEqual(['198.51.100.0/24']);
    expect(await driver.destroy()).toBe(true);
  });

  it('can do none of it without', async () => {
    const driver = new NftablesDriver(processRunner(['ip', 'netns', 'exec', net.ns('pbx'), ...setpriv(false)]), { table: 'asterisk_guard', priority: -310 });
    await expect(driver.init()).rejects.toThrow(/Operation not permitted/);
    await expect(driver.flushConnections(prefix('203.0.113.5'), 'from')).rejects.toThrow(/CAP_NET_ADMIN/);
  });
});
