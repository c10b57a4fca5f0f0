import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { GuardError } from '../errors.js';

export interface InstanceLock {
  readonly file: string;
  release(): void;
}

/**
 * The kernel's start time of a process (/proc/PID/stat, field 22): with the pid it names one
 * process for good, so a pid reused after a crash is not mistaken for a running guard.
 */
function startTime(pid: number, proc: string): string | undefined {
  try {
    const stat = readFileSync(path.join(proc, String(pid), 'stat'), 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from its end.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/**
 * One daemon per control socket: `<control.socket>.pid` holds the pid and start time of the
 * daemon that owns the socket, the store and the table. Taken before anything is touched, so a
 * second `run` changes nothing of the first and says which pid runs.
 */
export function takeInstanceLock(socketPath: string, proc = '/proc'): InstanceLock {
  const file = `${socketPath}.pid`;
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const mine = `${process.pid} ${startTime(process.pid, proc) ?? '?'}\n`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, mine, { flag: 'wx', mode: 0o644 });
      return {
        file,
        release() {
          // Only our own: a successor may have taken a lock we left behind.
          if (readIfThere(file) === mine) rmSync(file, { force: true });
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new GuardError('AG_ERR_INSTANCE_LOCK', `cannot create ${file}: ${(e as Error).message}; run as root, or set control.socket to a writable directory`);
      }
    }
    const holder = readIfThere(file);
    const [pidText, started] = (holder ?? '').trim().split(' ');
    const pid = Number(pidText);
    if (Number.isInteger(pid) && pid > 0 && started !== undefined && startTime(pid, proc) === started) {
      throw new GuardError(
        'AG_ERR_ALREADY_RUNNING',
        `asterisk-guard already runs with control socket ${socketPath} (pid ${pid}); nothing of it was touched. Stop it first (systemctl stop asterisk-guard), or give this one its own control.socket, store.path and firewall.table`,
      );
    }
    // Left by a daemon that died without cleaning up: its process is gone.
    rmSync(file, { force: true });
  }
  throw new GuardError('AG_ERR_ALREADY_RUNNING', `another asterisk-guard took ${file} while this one started; run one at a time`);
}

function readIfThere(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
