import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { backoff } from '../time/backoff.js';
import type { Clock } from '../time/clock.js';

export interface JournalFollowerOptions {
  /** The syslog identifier Asterisk's syslog channel writes under (`journalctl -t`). */
  readonly identifier: string;
  readonly clock: Clock;
  /** The journal's cursor after the last entry read; undefined: start at the end. */
  readonly resume: string | undefined;
  /** Entries as `journalctl -o json` prints them (log-prefix.ts reads those), then the cursor after them. */
  readonly lines: (lines: readonly string[], cursor: string) => void;
  readonly event: (e: { readonly kind: 'opened' } | { readonly kind: 'missing'; readonly error: string }) => void;
}

/**
 * Follows the journal through `journalctl --follow -o json`: systemd's own reader, which knows
 * the journal's files, rotations and vacuuming. Each entry carries its cursor; the one after
 * the last entry read is kept, so a restart (of the daemon or of journalctl) goes on with the
 * next entry, none twice.
 */
export class JournalFollower {
  private child: ChildProcess | undefined;
  private cursor: string | undefined;
  private failures = 0;
  private cancelRestart: (() => void) | undefined;
  private stopped = false;

  constructor(private readonly o: JournalFollowerOptions) {
    this.cursor = o.resume;
  }

  get position(): string | undefined {
    return this.cursor;
  }

  async start(): Promise<void> {
    this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelRestart?.();
    const child = this.child;
    if (child && child.exitCode === null) {
      const gone = new Promise((r) => child.once('close', r));
      child.kill('SIGTERM');
      await gone;
    }
  }

  private run(): void {
    const args = ['--follow', '--output=json', '--no-pager', `--identifier=${this.o.identifier}`, ...(this.cursor ? [`--after-cursor=${this.cursor}`] : ['--lines=0'])];
    const child = spawn('journalctl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let stderr = '';
    let opened = false;
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-500)));
    const reader = createInterface({ input: child.stdout!, crlfDelay: Infinity });
    reader.on('line', (line) => {
      if (!opened) {
        opened = true;
        this.failures = 0;
      }
      const cursor = cursorOf(line);
      if (cursor === undefined) return;
      this.cursor = cursor;
      this.o.lines([line], cursor);
    });
    child.on('spawn', () => this.o.event({ kind: 'opened' }));
    child.on('error', (e) => (stderr = e.message));
    child.on('close', (code, signal) => {
      if (this.stopped) return;
      this.o.event({ kind: 'missing', error: `journalctl exited ${signal ?? code}${stderr.trim() ? `: ${stderr.trim().split('\n').at(-1)}` : ''}` });
      this.failures++;
      this.cancelRestart = this.o.clock.after(backoff(this.failures, 1000, 30_000), () => this.run());
    });
  }
}

/** An entry's `__CURSOR`; undefined for a line that is no journal entry. */
function cursorOf(line: string): string | undefined {
  try {
    const entry = JSON.parse(line) as Record<string, unknown>;
    return typeof entry['__CURSOR'] === 'string' ? entry['__CURSOR'] : undefined;
  } catch {
    return undefined;
  }
}
