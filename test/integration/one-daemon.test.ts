import { execa } from 'execa';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeConfig } from '../support/lab.js';
import { until } from '../support/until.js';

const CLI = new URL('../../dist/src/cli.js', import.meta.url).pathname;
const cli = (...args: string[]) => execa(process.execPath, [CLI, ...args], { reject: false });

// No Asterisk needed: a daemon waiting for its first AMI login (nothing listens on port 1)
// already owns its socket, its store and its table.
function waitingDaemonConfig(): { config: string; socket: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'ag-one-'));
  const socket = path.join(dir, 'run', 'control.sock');
  const config = writeConfig(`ami:\n  secret: x\n  port: 1\nstore:\n  path: ${dir}/state.db\nfirewall:\n  driver: dry-run\ncontrol:\n  socket: ${socket}\nlog:\n  level: info\n`);
  return { config, socket };
}

describe('one daemon per config', () => {
  it('refuses a second run with a coded error naming the first pid and touches nothing of the first', async () => {
    const { config, socket } = waitingDaemonConfig();
    const first = execa(process.execPath, [CLI, 'run', '--config', config], { reject: false });
    try {
      await until(() => existsSync(socket));
      const second = await cli('run', '--config', config);
      expect(second.exitCode).toBe(1);
      expect(String(second.stderr)).toMatch(new RegExp(`^asterisk-guard: AG_ERR_ALREADY_RUNNING: asterisk-guard already runs with control socket .* \\(pid ${first.pid}\\); nothing of it was touched`));
      expect(existsSync(socket)).toBe(true);
      // The first still answers on its socket (status exits 1: AMI is not connected).
      const status = await cli('status', '--json', '--config', config);
      expect(JSON.parse(String(status.stdout))).toMatchObject({ ami: { connected: false }, active_bans: 0 });
    } finally {
      first.kill('SIGTERM');
    }
    expect((await first).exitCode).toBe(0);
  });

  it('SIGTERM before the first AMI login exits 0 and leaves no socket and no pid file', async () => {
    const { config, socket } = waitingDaemonConfig();
    const daemon = execa(process.execPath, [CLI, 'run', '--config', config], { reject: false });
    await until(() => existsSync(socket));
    daemon.kill('SIGTERM');
    const r = await daemon;
    expect(r.exitCode).toBe(0);
    expect(String(r.stdout)).toMatch(/stopped before the first AMI login/);
    expect(existsSync(socket)).toBe(false);
    expect(existsSync(`${socket}.pid`)).toBe(false);
  });
});
