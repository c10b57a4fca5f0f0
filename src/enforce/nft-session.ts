import { spawn, type ChildProcess } from 'node:child_process';
import { GuardError } from '../errors.js';
import { commandFailure, type CommandRunner } from './command-runner.js';

// One `nft -f -` process costs about 7-25 ms to start; at 175 guesses a second that is up to
// four free guesses per ban. A long-lived `nft -i` takes one transaction per line in well under
// a millisecond. Each line is followed by a sentinel: a unique word that is not a command, so
// nft answers it with a syntax error on stderr, which marks the end of the line's output;
// anything on stderr before it is the line's own error. A syntax error costs nft nothing; a
// command that fails in the kernel (the first sentinel, `delete table` of a missing table)
// made nft read the ruleset, 15 ms each time.

/** Lines longer than this go through a one-off `nft -f -` (a mass ban of thousands). */
const MAX_LINE = 64 * 1024;
const LINE_TIMEOUT_MS = 10_000;

interface Pending {
  /** The process the line went to: only its own exit may fail the line. */
  readonly child: ChildProcess;
  readonly sentinel: string;
  readonly line: string;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export class NftSession {
  private child: ChildProcess | undefined;
  private stderr = '';
  private seq = 0;
  private readonly pending: Pending[] = [];

  constructor(private readonly runner: CommandRunner) {}

  /** Applies statements as one transaction: all of them or none. */
  async apply(statements: readonly string[]): Promise<void> {
    const line = statements.join('; ');
    if (line.length > MAX_LINE || line.includes('\n')) {
      const script = statements.join('\n') + '\n';
      const result = await this.runner.run('nft', ['-f', '-'], script);
      if (result.exitCode !== 0) throw commandFailure('nft', ['-f', '-'], result);
      return;
    }
    const child = this.ensure();
    const sentinel = `ag_sentinel_${process.pid}_${++this.seq}`;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.restart(new GuardError('AG_ERR_FIREWALL_COMMAND', `nft -i did not answer within ${LINE_TIMEOUT_MS} ms; restarting it`));
      }, LINE_TIMEOUT_MS);
      this.pending.push({ child, sentinel, line, resolve, reject, timer });
      child.stdin!.write(`${line}\n${sentinel}\n`);
    });
  }

  close(): void {
    const child = this.child;
    this.child = undefined;
    child?.stdin?.end();
  }

  private ensure(): ChildProcess {
    if (this.child) return this.child;
    const [file, ...args] = [...this.runner.prefix, 'nft', '-i'];
    const child = spawn(file!, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    this.child = child;
    this.stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => this.onStderr(chunk));
    child.on('error', (e: NodeJS.ErrnoException) => {
      const missing = e.code === 'ENOENT';
      this.fail(child, new GuardError('AG_ERR_FIREWALL_COMMAND', missing ? 'nft: command not found; install it (Debian: apt-get install nftables)' : `nft -i: ${e.message}`));
    });
    child.on('exit', (code, signal) => {
      this.fail(child, new GuardError('AG_ERR_FIREWALL_COMMAND', `nft -i exited (${signal ?? code}): ${this.stderr.trim().slice(0, 300) || 'no output'}`));
    });
    child.stdin!.on('error', () => {});
    return child;
  }

  private onStderr(chunk: string): void {
    this.stderr += chunk;
    for (let head = this.pending[0]; head; head = this.pending[0]) {
      const outcome = lineOutcome(this.stderr, head.sentinel);
      if (!outcome) return;
      this.stderr = this.stderr.slice(outcome.consumed);
      this.pending.shift();
      clearTimeout(head.timer);
      if (outcome.error === undefined) head.resolve();
      else head.reject(commandFailure('nft', ['-i'], { exitCode: 1, stdout: '', stderr: outcome.error }));
    }
  }

  private fail(child: ChildProcess, error: Error): void {
    if (this.child === child) this.child = undefined;
    // A closed process exiting late (after a restart of the session) leaves the new one's lines alone.
    const failed = this.pending.filter((p) => p.child === child);
    if (failed.length === 0) return;
    this.pending.splice(0, this.pending.length, ...this.pending.filter((p) => p.child !== child));
    for (const p of failed) {
      clearTimeout(p.timer);
      p.reject(error);
    }
  }

  private restart(error: Error): void {
    const child = this.child;
    if (!child) return;
    this.fail(child, error);
    child.kill('SIGKILL');
  }
}

/**
 * Reads one line's outcome off the front of `nft -i`'s stderr: undefined until the sentinel's
 * error is complete (its command echo and the caret line under it); then how many characters
 * the line and its sentinel used, and the line's own error text if it had one.
 */
export function lineOutcome(stderr: string, sentinel: string): { consumed: number; error: string | undefined } | undefined {
  // nft echoes the sentinel on its own line; `_1` must not match inside `_10`.
  const at = stderr.indexOf(`\n${sentinel}\n`);
  if (at === -1) return undefined;
  const caret = stderr.indexOf('^', at);
  const end = caret === -1 ? -1 : stderr.indexOf('\n', caret);
  if (end === -1) return undefined;
  const before = stderr.slice(0, stderr.lastIndexOf('Error:', at));
  return { consumed: end + 1, error: before.includes('Error:') ? before : undefined };
}
