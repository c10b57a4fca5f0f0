import { spawn } from 'node:child_process';
import os from 'node:os';
import { GuardError } from '../errors.js';
import { Spawner } from './spawner.js';

export interface CommandResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program with an argument array, never through a shell. */
export interface CommandRunner {
  /** Words put before every command (`ip netns exec NS`), for long-lived processes too. */
  readonly prefix: readonly string[];
  /**
   * `signal`: aborting it kills the program (SIGKILL); the result then says `aborted`.
   * `background`: bulk work after the fact (a conntrack walk), run below the daemon's priority.
   */
  run(command: string, args: readonly string[], input?: string, signal?: AbortSignal, background?: boolean): Promise<CommandResult>;
}

/**
 * How much lower than the daemon a background command runs (nice levels). The unit runs the
 * daemon at Nice=-10 and its children inherited it: under a swarm, four conntrack walks of the
 * whole table (~10 ms of kernel time each) took the CPU from the next ban's nft commit, 30-50 ms
 * instead of 2-3 (demo scenario 11). The drop is what must not wait; the flush comes after it.
 */
const BACKGROUND_NICE = 10;

const TIMEOUT_MS = 30_000;

/** The conntrack walks' spawner (spawner.ts): one per process, started at the first walk. */
let spawner: Spawner | undefined;

/**
 * Runs programs with node's own spawn; the background ones (a ban's two conntrack walks)
 * through a long-lived spawner process, whose forks do not stop the event loop (spawner.ts).
 * execa did this first; it was replaced because it cost ~1 ms more per command and ~7 MB of
 * resident memory (docs/decisions.md).
 */
export function processRunner(prefix: readonly string[] = []): CommandRunner {
  return {
    prefix,
    run(command, args, input, signal, background = false) {
      const request = { argv: [...prefix, command, ...args], command, input, background };
      if (!background || input !== undefined) return spawnHere(request, signal);
      spawner ??= new Spawner(TIMEOUT_MS, BACKGROUND_NICE);
      return spawner.run(request.argv, command, signal);
    },
  };
}

/** One command, as spawnHere runs it. */
export interface CommandRequest {
  readonly argv: readonly string[];
  /** The program's name, for errors. */
  readonly command: string;
  readonly input: string | undefined;
  readonly background: boolean;
}

/** Runs a command from the daemon's own process (`background`: below its priority). */
export function spawnHere(request: CommandRequest, signal?: AbortSignal): Promise<CommandResult> {
  const { argv, command, input, background } = request;
  const [file, ...rest] = argv;
  return new Promise((resolve, reject) => {
    const child = spawn(file!, rest, { stdio: ['pipe', 'pipe', 'pipe'], timeout: TIMEOUT_MS });
    if (background && child.pid !== undefined) lowerPriority(child.pid, BACKGROUND_NICE);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (e: NodeJS.ErrnoException) => {
      reject(
        new GuardError(
          'AG_ERR_FIREWALL_COMMAND',
          e.code === 'ENOENT' ? `${command}: command not found; install it (Debian: apt-get install ${command === 'nft' ? 'nftables' : command})` : `${command}: ${e.message}`,
        ),
      );
    });
    const abort = () => child.kill('SIGKILL');
    signal?.addEventListener('abort', abort, { once: true });
    child.on('close', (code, killedBy) => {
      signal?.removeEventListener('abort', abort);
      if (signal?.aborted) stderr += `${stderr ? '\n' : ''}aborted`;
      else if (killedBy !== null) stderr += `${stderr ? '\n' : ''}killed by ${killedBy}${killedBy === 'SIGTERM' ? ` (no answer within ${TIMEOUT_MS / 1000} s)` : ''}`;
      resolve({ exitCode: code ?? -1, stdout: stdout.replace(/\n$/, ''), stderr: stderr.replace(/\n$/, '') });
    });
    // A program that exits without reading its input must not crash us with EPIPE.
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });
}

/** Runs commands inside a network namespace (the tests' hosts, or a PBX in a namespace). */
export function netnsRunner(namespace: string): CommandRunner {
  return processRunner(['ip', 'netns', 'exec', namespace]);
}

export function commandFailure(command: string, args: readonly string[], result: CommandResult): GuardError {
  const detail = (result.stderr || result.stdout).trim().split('\n').slice(0, 6).join(' | ');
  return new GuardError(
    'AG_ERR_FIREWALL_COMMAND',
    `${command} ${args.join(' ')} exited ${result.exitCode}: ${detail || 'no output'}`,
  );
}

export function lowerPriority(pid: number, by: number): void {
  try {
    os.setPriority(pid, Math.min(19, os.getPriority() + by));
  } catch {
    // Gone already, or not ours to change: it runs at the daemon's priority, as before.
  }
}
