import { processRunner, type CommandRunner } from '../enforce/command-runner.js';
import type { Clock } from '../time/clock.js';

export interface JournalFollowerOptions {
  /** The syslog identifier Asterisk's syslog channel writes under (`journalctl -t`). */
  readonly identifier: string;
  readonly clock: Clock;
  /** How often the journal is read. */
  readonly pollMs: number;
  /** The journal's cursor after the last entry read; undefined: start at the end. */
  readonly resume: string | undefined;
  /** Entries as `journalctl -o json` prints them (log-prefix.ts reads those), then the cursor after them. */
  readonly lines: (lines: readonly string[], cursor: string) => void;
  readonly event: (e: { readonly kind: 'opened' } | { readonly kind: 'missing'; readonly error: string }) => void;
  readonly runner?: CommandRunner;
}

/** journalctl's answer at most per read (MESSAGE, the timestamp and the cursor: ~300 bytes an entry). */
const FIELDS = ['--output=json', '--output-fields=MESSAGE,__REALTIME_TIMESTAMP', '--no-pager'];

/**
 * Reads the journal with `journalctl`, systemd's own reader (the journal's files, rotations and
 * vacuuming are its business), every `pollMs` from the cursor after the last entry read: a
 * restart (of the daemon) goes on with the next entry, none twice. Polled, not `--follow`:
 * under the unit's sandbox (a mount namespace: ProtectSystem, PrivateTmp, ProtectKernel*) a
 * following journalctl saw no entry written after it started (measured under systemd-nspawn),
 * while each new journalctl reads them all. The runs go through the spawner (background).
 */
export class JournalFollower {
  private cursor: string | undefined;
  private since: string | undefined;
  private cancel: (() => void) | undefined;
  private running: Promise<void> = Promise.resolve();
  private failing = false;
  private stopped = false;
  private readonly runner: CommandRunner;

  constructor(private readonly o: JournalFollowerOptions) {
    this.cursor = o.resume;
    this.runner = o.runner ?? processRunner();
  }

  get position(): string | undefined {
    return this.cursor;
  }

  async start(): Promise<void> {
    // From now on: what was written before the guard started is replay's.
    if (this.cursor === undefined) this.since = `@${Math.floor(this.o.clock.now() / 1000)}`;
    await this.read();
    if (!this.failing) this.o.event({ kind: 'opened' });
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.cancel?.();
    await this.running;
  }

  private schedule(): void {
    this.cancel = this.o.clock.after(this.o.pollMs, () => {
      this.running = this.read().finally(() => {
        if (!this.stopped) this.schedule();
      });
    });
  }

  private async read(): Promise<void> {
    const from = this.cursor !== undefined ? [`--after-cursor=${this.cursor}`] : [`--since=${this.since}`];
    let result;
    try {
      result = await this.runner.run('journalctl', [...FIELDS, `--identifier=${this.o.identifier}`, ...from], undefined, undefined, true);
    } catch (e) {
      return this.failed((e as Error).message);
    }
    // journalctl exits 1 with "-- No entries --" on stderr when there is nothing new.
    if (result.exitCode !== 0 && !/No entries/.test(result.stderr) && result.stdout === '') return this.failed(`journalctl exited ${result.exitCode}: ${result.stderr.split('\n').at(-1)}`);
    if (/insufficient permissions/.test(result.stderr)) return this.failed(`journalctl: ${result.stderr.split('\n')[0]} (the service needs group systemd-journal: asterisk-guard install-service adds it)`);
    if (this.failing) {
      this.failing = false;
      this.o.event({ kind: 'opened' });
    }
    const lines: string[] = [];
    let cursor: string | undefined;
    for (const line of result.stdout.split('\n')) {
      const c = cursorOf(line);
      if (c === undefined) continue;
      cursor = c;
      lines.push(line);
    }
    if (cursor === undefined) return;
    this.cursor = cursor;
    this.o.lines(lines, cursor);
  }

  private failed(error: string): void {
    if (!this.failing) this.o.event({ kind: 'missing', error });
    this.failing = true;
  }
}

/** An entry's `__CURSOR`; undefined for a line that is no journal entry. */
function cursorOf(line: string): string | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const entry = JSON.parse(line) as Record<string, unknown>;
    return typeof entry['__CURSOR'] === 'string' ? entry['__CURSOR'] : undefined;
  } catch {
    return undefined;
  }
}
