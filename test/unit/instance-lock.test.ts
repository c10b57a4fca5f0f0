import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isGuardError } from '../../src/errors.js';
import { takeInstanceLock } from '../../src/ops/instance-lock.js';

const socketIn = () => path.join(mkdtempSync(path.join(tmpdir(), 'ag-lock-')), 'run', 'control.sock');

describe('one daemon per control socket', () => {
  it('refuses a second daemon with a coded error naming the running pid, and releases only its own lock', () => {
    const socket = socketIn();
    const lock = takeInstanceLock(socket);
    expect(readFileSync(`${socket}.pid`, 'utf8')).toMatch(new RegExp(`^${process.pid} \\d+\\n$`));
    let error: unknown;
    try {
      takeInstanceLock(socket);
    } catch (e) {
      error = e;
    }
    expect(isGuardError(error, 'AG_ERR_ALREADY_RUNNING')).toBe(true);
    expect((error as Error).message).toContain(`(pid ${process.pid}); nothing of it was touched`);
    expect(existsSync(`${socket}.pid`)).toBe(true);
    lock.release();
    expect(existsSync(`${socket}.pid`)).toBe(false);
    takeInstanceLock(socket).release();
  });

  it('takes over a lock left by a daemon that died, and one whose pid now names another process', () => {
    const socket = socketIn();
    const dead = spawnSync('true').pid!;
    takeInstanceLock(socket);
    writeFileSync(`${socket}.pid`, `${dead} 12345\n`);
    const afterDeath = takeInstanceLock(socket);
    afterDeath.release();
    // Our own pid with another start time: the pid was reused, the old daemon is gone.
    writeFileSync(`${socket}.pid`, `${process.pid} 1\n`);
    const afterReuse = takeInstanceLock(socket);
    expect(readFileSync(`${socket}.pid`, 'utf8')).not.toBe(`${process.pid} 1\n`);
    afterReuse.release();
  });

  it('treats a garbled pid file as stale', () => {
    const socket = socketIn();
    takeInstanceLock(socket).release();
    for (const text of ['', 'garbage', '-1 2', '0 0', '\u0000\u0001']) {
      writeFileSync(`${socket}.pid`, text);
      takeInstanceLock(socket).release();
    }
  });
});
