import type { Logger } from 'pino';
import { backoff } from '../time/backoff.js';
import type { Clock } from '../time/clock.js';

export interface PersisterOptions {
  readonly clock: Clock;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  /** The first failure of a streak, for an alert. */
  readonly onFailing: (error: unknown) => void;
  /** Runs a batch of writes as one transaction (all or none). */
  readonly atomically?: (writes: () => void) => void;
  /** Before each batch: is the database file still the one open? (StoreKeeper.check) */
  readonly beforeBatch?: () => void;
  /** After a failed batch: true when the store was repaired and the batch may go again at once (StoreKeeper.recover). */
  readonly recover?: (error: unknown) => boolean;
}

/** Writes in one transaction: a wave of a thousand bans is one commit, not a thousand. */
const BATCH = 1000;

/**
 * Runs store writes off the hot path, in order, a batch per transaction. A failed batch (disk
 * full, database locked) is logged with its error and retried whole with backoff until it
 * succeeds: the kernel already has the ban, and the record of it must not be lost.
 */
export class Persister {
  private queue: Array<{ what: string; write: () => void }> = [];
  private head = 0;
  /** Where each queued writeLatest waits in the queue, by its `what`. */
  private readonly latest = new Map<string, number>();
  private cancel: (() => void) | undefined;
  private failures = 0;
  failed = 0;

  constructor(
    private readonly log: Logger,
    private readonly options: PersisterOptions,
  ) {}

  get pending(): number {
    return this.queue.length - this.head;
  }

  /** Are writes failing now (the last batch was refused)? */
  get failing(): boolean {
    return this.failures > 0;
  }

  write(what: string, write: () => void): void {
    this.queue.push({ what, write });
    if (!this.cancel) this.cancel = this.options.clock.after(0, () => this.flush());
  }

  /**
   * A write that a later one with the same `what` makes moot (a file's read position, a feed's
   * cursor): one still queued takes the later write in its place. While the disk stays full,
   * a log read a thousand times then waits as one write, not a thousand.
   */
  writeLatest(what: string, write: () => void): void {
    const at = this.latest.get(what);
    // A batch is retried whole from the head, so anything at or past it is not yet written.
    if (at !== undefined && at >= this.head) {
      this.queue[at] = { what, write };
      return;
    }
    this.latest.set(what, this.queue.length);
    this.write(what, write);
  }

  /** Writes what is queued now (shutdown); what still fails is logged. */
  flush(): void {
    this.stop();
    const atomically = this.options.atomically ?? ((writes: () => void) => writes());
    let recovered = false;
    while (this.pending > 0) {
      const end = Math.min(this.queue.length, this.head + BATCH);
      try {
        this.options.beforeBatch?.();
        atomically(() => {
          for (let i = this.head; i < end; i++) this.queue[i]!.write();
        });
      } catch (e) {
        // Once per flush: a store that fails again after its repair waits like any other failure.
        if (!recovered && this.options.recover?.(e)) {
          recovered = true;
          continue;
        }
        this.failed++;
        this.failures++;
        if (this.failures === 1) this.options.onFailing(e);
        const delay = backoff(this.failures, this.options.retryBaseMs, this.options.retryMaxMs);
        this.log.error({ err: e, code: 'AG_ERR_STORE_WRITE', what: this.queue[this.head]!.what, queued: this.pending, retry_in_ms: delay }, 'state database write failed; the kernel has the ban, the write is retried');
        this.cancel = this.options.clock.after(delay, () => this.flush());
        return;
      }
      const first = this.queue[this.head]!.what;
      this.head = end;
      if (this.failures > 0) this.log.info({ what: first }, 'state database writes work again');
      this.failures = 0;
    }
    this.queue = [];
    this.head = 0;
    this.latest.clear();
  }

  stop(): void {
    this.cancel?.();
    this.cancel = undefined;
  }
}
