import type { Logger } from 'pino';

/**
 * Runs store writes off the hot path. A failed write (disk full, database locked) is logged
 * with its error and retried with backoff, in order, until it succeeds: the kernel already has
 * the ban, and the record of it must not be lost.
 */
export class Persister {
  private readonly queue: Array<{ what: string; write: () => void }> = [];
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  failed = 0;

  constructor(
    private readonly log: Logger,
    private readonly retryBaseMs = 500,
    private readonly retryMaxMs = 60_000,
    /** The first failure of a streak, for an alert. */
    private readonly onFailing: (error: unknown) => void = () => {},
  ) {}

  get pending(): number {
    return this.queue.length;
  }

  write(what: string, write: () => void): void {
    this.queue.push({ what, write });
    if (!this.timer) this.timer = setTimeout(() => this.flush(), 0);
  }

  /** Writes what is queued now (shutdown); what still fails is logged. */
  flush(): void {
    this.timer = undefined;
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      try {
        head.write();
      } catch (e) {
        this.failed++;
        this.failures++;
        if (this.failures === 1) this.onFailing(e);
        const delay = Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** (this.failures - 1));
        this.log.error({ err: e, code: 'AG_ERR_STORE_WRITE', what: head.what, queued: this.queue.length, retry_in_ms: delay }, 'state database write failed; the kernel has the ban, the write is retried');
        this.timer = setTimeout(() => this.flush(), delay);
        this.timer.unref();
        return;
      }
      this.queue.shift();
      if (this.failures > 0) this.log.info({ what: head.what }, 'state database writes work again');
      this.failures = 0;
    }
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
