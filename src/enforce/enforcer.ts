import type { Logger } from 'pino';
import type { BanDecision } from '../policy/decision.js';
import type { IpPrefix } from '../net/ip-prefix.js';
import type { FirewallDriver, FlowDirection } from './firewall-driver.js';

/** Told about each ban once the kernel has it: the store, later alerts. Never on the hot path. */
export type CommittedListener = (decision: BanDecision, until: number | null) => void;

export interface EnforcerOptions {
  /** Wall clock (ms since the epoch): kernel timeouts are wall time, whatever the event clock. */
  readonly now: () => number;
  /** Monotonic clock (ms) for latencies. */
  readonly monotonic: () => number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  readonly conntrackAttempts: number;
  readonly onCommitted?: CommittedListener;
  /** The first failure of a streak (the admins hear once, not at every retry). */
  readonly onFailing?: (error: unknown) => void;
  /** Latencies of each ban, in ms from the event: kernel commit, the source's own flows
   *  deleted, the flows towards it deleted (null: the flush failed). */
  readonly onLatency?: (kernelMs: number, conntrackMs: number | null, conntrackToMs: number | null) => void;
}

interface Pending {
  readonly decision: BanDecision;
  /** Monotonic time the deciding event was received. */
  readonly receivedAt: number;
}

export interface EnforcerStats {
  committed: number;
  firewallErrors: number;
  conntrackErrors: number;
}

/**
 * Puts decisions into the kernel. Decisions that arrive while a transaction runs wait and go
 * together in the next one, so a wave of bans costs a few nft runs, not one each. Bans go in
 * first; conntrack is flushed after the commit (flushing first would let the next packet
 * re-create the entry before the drop exists).
 */
export class Enforcer {
  private queue: Pending[] = [];
  private running: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private ready = false;
  private readonly flushes = new Set<Promise<void>>();
  readonly stats: EnforcerStats = { committed: 0, firewallErrors: 0, conntrackErrors: 0 };

  constructor(
    private readonly driver: FirewallDriver,
    private readonly log: Logger,
    private readonly options: EnforcerOptions,
  ) {}

  /**
   * Creates the driver's table. A failure (nft missing, no permission) is logged and tried
   * again before the next ban: the daemon keeps scoring meanwhile.
   */
  async prepare(): Promise<boolean> {
    try {
      await this.driver.init();
      this.ready = true;
    } catch (error) {
      this.stats.firewallErrors++;
      this.log.error({ err: error, driver: this.driver.name }, 'firewall setup failed; retried before the next ban');
    }
    return this.ready;
  }

  submit(decision: BanDecision, receivedAt: number): void {
    this.queue.push({ decision, receivedAt });
    if (!this.running && !this.retryTimer) this.kick();
  }

  /** Resolves once every submitted decision is in the kernel (or given up) and flushed. */
  async drain(): Promise<void> {
    while (this.running || this.flushes.size > 0) {
      await this.running;
      await Promise.all([...this.flushes]);
    }
  }

  /** Stops retrying: for shutdown after drain has had its chance. */
  stop(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private kick(): void {
    this.running = this.commitQueued().finally(() => {
      this.running = undefined;
      if (this.queue.length > 0 && !this.retryTimer) this.kick();
    });
  }

  private async commitQueued(): Promise<void> {
    const now = this.options.now();
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    try {
      if (!this.ready) {
        await this.driver.init();
        this.ready = true;
      }
      await this.driver.ban(
        batch.map((p) => ({ prefix: p.decision.target, until: p.decision.durationMs === null ? null : now + p.decision.durationMs })),
        now,
      );
    } catch (error) {
      this.failures++;
      this.stats.firewallErrors++;
      if (this.failures === 1) this.options.onFailing?.(error);
      const delay = Math.min(this.options.retryMaxMs, this.options.retryBaseMs * 2 ** (this.failures - 1));
      this.log.error(
        { err: error, driver: this.driver.name, bans: batch.length, retry_in_ms: delay },
        'firewall update failed; bans kept queued and retried',
      );
      this.queue = [...batch, ...this.queue];
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        if (!this.running) this.kick();
      }, delay);
      this.retryTimer.unref();
      return;
    }
    if (this.failures > 0) this.log.info({ driver: this.driver.name }, 'firewall updates work again');
    this.failures = 0;
    const committedAt = this.options.monotonic();
    this.stats.committed += batch.length;
    for (const p of batch) this.options.onCommitted?.(p.decision, p.decision.durationMs === null ? null : now + p.decision.durationMs);
    for (const p of batch) this.track(this.flushThenLog(p, committedAt));
  }

  private track(work: Promise<void>): void {
    this.flushes.add(work);
    void work.finally(() => this.flushes.delete(work));
  }

  private async flushThenLog(p: Pending, committedAt: number): Promise<void> {
    const since = (t: number | null) => (t === null ? null : t - p.receivedAt);
    const flushed = since(await this.flush(p.decision.target, 'from'));
    const flushedTo = since(await this.flush(p.decision.target, 'to'));
    const d = p.decision;
    this.options.onLatency?.(committedAt - p.receivedAt, flushed, flushedTo);
    this.log.info(
      {
        decision: d.action,
        prefix: d.target.text,
        reason: d.reason,
        bantime_s: d.durationMs === null ? null : Math.round(d.durationMs / 1000),
        step: d.step,
        evidence: d.evidence,
        latency_ms: {
          kernel: round3(committedAt - p.receivedAt),
          conntrack: flushed === null ? null : round3(flushed),
          conntrack_to: flushedTo === null ? null : round3(flushedTo),
        },
      },
      `ban ${d.target.text}`,
    );
  }

  /** One direction's flush, retried; when it finished, or null when it never did. */
  private async flush(prefix: IpPrefix, direction: FlowDirection): Promise<number | null> {
    for (let attempt = 1; attempt <= this.options.conntrackAttempts; attempt++) {
      try {
        await this.driver.flushConnections(prefix, direction);
        return this.options.monotonic();
      } catch (error) {
        this.stats.conntrackErrors++;
        this.log.error({ err: error, prefix: prefix.text, direction, attempt }, 'conntrack flush failed');
        if (attempt < this.options.conntrackAttempts) await new Promise((r) => setTimeout(r, this.options.retryBaseMs * 2 ** (attempt - 1)));
      }
    }
    return null;
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
