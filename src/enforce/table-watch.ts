import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import { backoff } from '../time/backoff.js';
import type { Clock } from '../time/clock.js';
import type { CommandRunner } from './command-runner.js';

export interface TableWatchOptions {
  readonly runner: CommandRunner;
  readonly table: string;
  readonly clock: Clock;
  /** How often the table is checked when `nft monitor` says nothing (the fallback). */
  readonly checkIntervalMs: number;
  /** What is missing, or undefined when the table is whole. */
  readonly inspect: () => Promise<string | undefined>;
  /** Our table was changed by something else; resolves once it is repaired. */
  readonly onTampered: (what: string) => Promise<void>;
}

// `nft monitor destroy rules` prints each rule deletion as it commits. Nothing of our table can
// go without its rules going first (a set in use cannot be deleted, a chain must be flushed,
// `delete table` and `flush ruleset` delete the rules), and rules only: a flush of 100k
// elements would otherwise be 100k lines to read before the one that matters. Our own changes
// show too (init flushes our chain), so a deletion is only a reason to look: the table is
// inspected once the batch is over, and repaired only when something is really missing.
const DELETION = /^delete rule inet (\S+)/;
/** After a deletion, the rest of its batch arrives within microseconds; then we look. */
const SETTLE_MS = 20;

/**
 * Notices, within a fraction of a second, that our nft table (or a chain, set or rule of it)
 * is gone: `systemctl restart nftables`, `nft flush ruleset` in a provisioning script,
 * firewalld or ufw reloading. Then asks for the repair. A periodic inspection covers the
 * times `nft monitor` is not running.
 */
export class TableWatch {
  private child: ChildProcess | undefined;
  private cancelCheck: (() => void) | undefined;
  private cancelRestart: (() => void) | undefined;
  private checking: Promise<void> | undefined;
  private again = false;
  private failures = 0;
  private stopped = false;
  /** The last inspection: when, and what was missing (undefined: whole). */
  last: { readonly at: number; readonly missing: string | undefined } | undefined;
  repairs = 0;

  constructor(
    private readonly options: TableWatchOptions,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.monitor();
    this.schedule(this.options.checkIntervalMs);
  }

  stop(): void {
    this.stopped = true;
    this.cancelCheck?.();
    this.cancelRestart?.();
    this.child?.stdin?.end();
    this.child = undefined;
  }

  /**
   * Runs a bulk change of our own (a rebuild) with `nft monitor` stopped: it parses every
   * element the kernel reports, and a 100k-element rebuild took 3.1 s beside it against 0.35 s
   * alone. Restarted after; what it missed meanwhile is ours.
   */
  async quiet<T>(work: () => Promise<T>): Promise<T> {
    const child = this.child;
    this.child = undefined;
    child?.stdin?.end();
    try {
      return await work();
    } finally {
      if (!this.stopped) this.monitor();
    }
  }

  /** Inspects now (and repairs if needed); resolves when done. */
  check(): Promise<void> {
    if (this.checking) {
      this.again = true;
      return this.checking;
    }
    this.checking = this.inspectAndRepair().finally(() => {
      this.checking = undefined;
      if (this.again && !this.stopped) {
        this.again = false;
        void this.check();
      }
    });
    return this.checking;
  }

  private async inspectAndRepair(): Promise<void> {
    let missing: string | undefined;
    try {
      missing = await this.options.inspect();
    } catch (e) {
      this.log.warn({ err: e }, 'could not inspect our nft table; trying again at the next check');
      return;
    }
    this.last = { at: this.options.clock.now(), missing };
    if (missing === undefined || this.stopped) return;
    this.repairs++;
    await this.quiet(() => this.options.onTampered(missing));
    this.last = { at: this.options.clock.now(), missing: await this.options.inspect().catch(() => 'not inspected') };
  }

  private schedule(ms: number): void {
    this.cancelCheck?.();
    this.cancelCheck = this.options.clock.after(ms, () => {
      void this.check().finally(() => {
        if (!this.stopped) this.schedule(this.options.checkIntervalMs);
      });
    });
  }

  private monitor(): void {
    // nft monitor never reads its input, so it would outlive a daemon killed with SIGKILL (and
    // keep a deleted namespace alive). A fixed sh script ties it to our pipe: when the pipe
    // closes, whoever closed it, the monitor is killed; when the monitor ends, so does sh.
    const [file, ...args] = [...this.options.runner.prefix, 'sh', '-c', 'exec 3<&0; nft monitor destroy rules </dev/null & m=$!; { read _ <&3; kill $m; } & wait $m'];
    const child = spawn(file!, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin!.on('error', () => {});
    this.child = child;
    let settle: (() => void) | undefined;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      this.failures = 0;
      const m = DELETION.exec(line);
      if (!m || m[1] !== this.options.table || settle) return;
      settle = this.options.clock.after(SETTLE_MS, () => {
        settle = undefined;
        void this.check();
      });
    });
    child.stderr!.resume();
    child.on('error', () => {});
    child.on('close', (code) => {
      // Its reader waits on our pipe: closing it lets that go too.
      child.stdin?.end();
      if (this.stopped || this.child !== child) return;
      this.failures++;
      const delay = backoff(this.failures, 1000, 60_000);
      this.log.warn({ code, retry_in_ms: delay }, 'nft monitor ended; our table is checked now and every few seconds meanwhile; restarting it');
      // It ends when the kernel's events overran it (a flush of 100k elements does that): what it missed may be a removal.
      void this.check();
      this.cancelRestart = this.options.clock.after(delay, () => this.monitor());
    });
  }
}
