import { execa } from 'execa';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

// What an admin does: `npm pack` here, `npm install -g` of the tarball there. Into a prefix of
// the test's own, so the machine's global packages are left alone.

const ROOT = new URL('../..', import.meta.url).pathname;

describe('the packed tarball', () => {
  it('installs globally into a working asterisk-guard command, and uninstalls', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ag-pack-'));
    const prefix = path.join(dir, 'prefix');
    await execa('npm', ['pack', '--pack-destination', dir], { cwd: ROOT });
    const tarball = path.join(dir, readdirSync(dir).find((f) => f.endsWith('.tgz'))!);
    // npm 11 runs no install script unless allowed: better-sqlite3 builds its binding in one.
    await execa('npm', ['install', '-g', '--allow-scripts=better-sqlite3', '--prefix', prefix, tarball]);
    const bin = path.join(prefix, 'bin', 'asterisk-guard');
    const version = await execa(bin, ['--version']);
    expect(String(version.stdout)).toMatch(/^\d+\.\d+\.\d+$/);
    const installed = path.join(prefix, 'lib', 'node_modules', 'asterisk-guard');
    for (const file of ['systemd/asterisk-guard.service', 'asterisk-conf/manager.d/asterisk-guard.conf', 'asterisk-conf/extensions.d/asterisk-guard.conf', 'docs/config.sample.yaml', 'docs/fraud.md', 'dist/src/cli.js']) {
      expect(existsSync(path.join(installed, file)), file).toBe(true);
    }
    // The lab (netns, Asterisk root, attack tools) and its execa stay in the repository.
    for (const dir of ['bench', 'lab', 'test']) expect(existsSync(path.join(installed, 'dist', dir)), dir).toBe(false);
    expect(existsSync(path.join(installed, 'lab'))).toBe(false);
    const manifest = JSON.parse(readFileSync(path.join(installed, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(Object.keys(manifest.dependencies)).not.toContain('execa');
    expect(existsSync(path.join(installed, 'node_modules', 'execa'))).toBe(false);
    const sqlite = await execa(process.execPath, ['-e', "const D = require('better-sqlite3'); console.log(new D(':memory:').prepare('select 41 + 1 as x').get().x)"], { cwd: installed });
    expect(String(sqlite.stdout)).toBe('42');
    const init = await execa(bin, ['init', '--config', path.join(dir, 'etc', 'config.yaml'), '--manager-conf', path.join(dir, 'manager.conf')]);
    expect(String(init.stdout)).toMatch(/wrote .*config\.yaml \(mode 0600\)/);
    const check = await execa(bin, ['check-config', '--config', path.join(dir, 'etc', 'config.yaml')], { reject: false });
    expect(check.exitCode).toBe(3);
    expect(String(check.stderr)).toMatch(/AG_ERR_MANAGER_CONF/);
    await execa('npm', ['uninstall', '-g', '--prefix', prefix, 'asterisk-guard']);
    expect(existsSync(bin)).toBe(false);
  }, 300_000);
});
