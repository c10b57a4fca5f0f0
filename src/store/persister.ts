import type { Logger } from 'pino';
import { backoff } from '../time/backoff.js';
import type { Clock } from '../time/clock.js';

export interface PersisterOptions {
  readonly clock: Clock;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  /** The first failure of a streak, for an alert. */
  readonly onFailing: (error: unknown) => void;
}

/**
 * Runs store writes off the hot path. A failed write (disk full, database locked) is logged
 * with its error and retried with backoff, in order, until it succeeds: the kernel already has
 * the ban, and the record of it must not be lost.
 */
export class Persister {
  private readonly queue: Array<{ what: string; write: () => void }> = [];
  private cancel: (() => void) | undefined;
  private failures = 0;
  failed = 0;

  constructor(
    private readonly log: Logger,
    private readonly options: PersisterOptions,
  ) {}

  get pending(): number {
    return this.queue.length;
  }

  write(what: string, write: () => void): void {
    this.queue.push({ what, write });
    if (!this.cancel) this.cancel = this.options.clock.after(0, () => this.flush());
  }

  /** Writes what is queued now (shutdown); what still fails is logged. */
  flush(): void {
    this.stop();
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      try {
        head.write();
      } catch (e) {
        this.failed++;
        this.failures++;
        if (this.failures === 1) this.options.onFailing(e);
        const delay = backoff(this.failures, this.options.retryBaseMs, this.options.retryMaxMs);
        this.log.error({ err: e, code: 'AG_ERR_STORE_WRITE', what: head.what, queued: this.queue.length, retry_in_ms: delay }, 'state database write failed; the kernel has the ban, the write is retried');
        this.cancel = this.options.clock.after(delay, () => this.flush());
        return;
      }
      this.queue.shift();
      if (this.failures > 0) this.log.info({ what: head.what }, 'state database writes work again');
      this.failures = 0;
    }
  }

  stop(): void {
    this.cancel?.();
    this.cancel = undefined;
  }
}
