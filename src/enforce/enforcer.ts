import type { Logger } from 'pino';
import type { DecisionBus } from '../effects/bus.js';
import type { LedgerSink } from '../ledger/ban-ledger.js';
import type { IpPrefix, PrefixText } from '../net/ip-prefix.js';
import type { AdminChannel, BanDecision, BanOrigin } from '../policy/decision.js';
import { backoff } from '../time/backoff.js';
import type { Clock } from '../time/clock.js';
import type { Ban, FirewallDriver, FlowDirection, KernelBan } from './firewall-driver.js';
import { Fifo } from './fifo.js';

export interface EnforcerOptions {
  readonly clock: Clock;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  readonly conntrackAttempts: number;
}

/**
 * Why a running flush is aborted, made once: `abort()` without a reason builds a DOMException
 * with its stack each time, and a wave of bans aborted flushes by the thousand (4.9 of the
 * 20 s of benchmark 7 at 50,000 bans).
 */
const COMMIT_FIRST = new Error('a ban to commit goes first');

/** Bans whose conntrack flushes run at once; a wave of bans (an import) waits its turn. */
const FLUSHES_IN_FLIGHT = 4;

interface BanOperation {
  readonly op: 'ban';
  readonly decision: BanDecision;
  readonly receivedAt: number;
  /** Times the kernel refused this ban alone (it is then retried on its own, with backoff). */
  refusals: number;
}

type Operation =
  | BanOperation
  | { readonly op: 'lift'; readonly prefix: IpPrefix; readonly time: number; readonly origin: BanOrigin; readonly via: AdminChannel | undefined }
  | { readonly op: 'allow'; readonly prefixes: readonly IpPrefix[] }
  | { readonly op: 'listed'; readonly prefixes: readonly PrefixText[] }
  | { readonly op: 'reconcile'; readonly bans: readonly Ban[] }
  | { readonly op: 'rebuild'; readonly bans: readonly Ban[]; readonly allowed: readonly IpPrefix[]; readonly done: () => void };

export interface EnforcerStats {
  committed: number;
  firewallErrors: number;
  conntrackErrors: number;
}

/**
 * The only caller of the firewall driver, and the ledger's sink: it puts the ledger's changes
 * into the kernel in order. Changes that arrive while a transaction runs wait and go together
 * in the next one, so a wave of bans costs a few nft runs, not one each; a failed transaction
 * is kept and retried with backoff. Bans go in first; conntrack is flushed after the commit
 * (flushing first would let the next packet re-create the entry before the drop exists).
 * Each change reaches the decision bus once the kernel has it.
 */
export class Enforcer implements LedgerSink {
  private queue: Operation[] = [];
  private running: Promise<void> | undefined;
  private cancelRetry: (() => void) | undefined;
  private failures = 0;
  private ready = false;
  private readonly flushes = new Set<Promise<void>>();
  /** Flushes waiting for a turn: the policy's bans first, then admin bans and imports. */
  private readonly flushWaiting = { urgent: new Fifo<() => void>(), bulk: new Fifo<() => void>() };
  private flushing = 0;
  /** Flushes running now: a ban to commit aborts them (see flush). */
  private readonly flushAborts = new Set<AbortController>();
  /** Flushes waiting for the commits to be done. */
  private commitsDoneWaiters: Array<() => void> = [];
  private stopped = false;
  /** The feeds' entries the kernel was last given: a rebuild puts them back. */
  private listed: readonly PrefixText[] = [];
  readonly stats: EnforcerStats = { committed: 0, firewallErrors: 0, conntrackErrors: 0 };

  constructor(
    private readonly driver: FirewallDriver,
    private readonly bus: DecisionBus,
    private readonly log: Logger,
    private readonly options: EnforcerOptions,
  ) {}

  get driverName(): string {
    return this.driver.name;
  }

  /**
   * Creates the driver's table. A failure (nft missing, no permission) is logged and tried
   * again before the next change: the daemon keeps scoring meanwhile.
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

  /** Called in the same turn as the deciding event arrived (the ledger is synchronous): latencies count from here. */
  ban(decision: BanDecision): void {
    this.enqueue({ op: 'ban', decision, receivedAt: this.options.clock.monotonic(), refusals: 0 });
  }

  lift(prefix: IpPrefix, time: number, origin: BanOrigin, via?: AdminChannel): void {
    this.enqueue({ op: 'lift', prefix, time, origin, via });
  }

  /** The addresses the kernel accepts before any drop (both allow-lists). */
  setAllowed(prefixes: readonly IpPrefix[]): void {
    this.enqueue({ op: 'allow', prefixes });
  }

  /** The feeds' entries, replacing the last list in one transaction (kept for a rebuild). */
  setListed(prefixes: readonly PrefixText[]): void {
    this.enqueue({ op: 'listed', prefixes });
  }

  /** Makes the kernel hold exactly these bans (the restored ledger), in one transaction. */
  reconcile(bans: readonly Ban[]): void {
    this.enqueue({ op: 'reconcile', bans });
  }

  /**
   * Our table was changed by something else: builds it anew with every ban in force and the
   * allowed addresses, in one transaction, then deletes the banned prefixes' tracked flows
   * again (flows that started while the drop was gone). Resolves once the kernel has it.
   */
  rebuild(bans: readonly Ban[], allowed: readonly IpPrefix[]): Promise<void> {
    return new Promise((done) => this.enqueue({ op: 'rebuild', bans, allowed, done }));
  }

  /** The bans the kernel's table holds now, read from it (a failure reads as none). */
  async kernelBans(now: number): Promise<KernelBan[]> {
    try {
      return await this.driver.list(now);
    } catch (error) {
      this.log.error({ err: error }, 'could not read the bans in the kernel');
      return [];
    }
  }

  /** Is our table whole in the kernel? What is missing, or undefined. */
  inspect(): Promise<string | undefined> {
    return this.driver.inspect();
  }

  /**
   * Resolves once every change so far is in the kernel, and, with `flushes`, their conntrack
   * flushes done. While the firewall keeps failing it waits, as the changes do.
   */
  async drain({ flushes = true } = {}): Promise<void> {
    while (this.running || this.queue.length > 0 || (flushes && this.flushes.size > 0)) {
      if (this.running) await this.running;
      else if (this.queue.length > 0) await this.options.clock.sleep(Math.max(10, this.options.retryBaseMs));
      if (flushes) await Promise.all([...this.flushes]);
    }
  }

  /**
   * Shutdown: waits for every change to reach the kernel, and for conntrack flushes still
   * running or queued up to `flushBudgetMs` (after an import there can be thousands; the bans
   * are in the kernel, and the drop stops those flows anyway).
   */
  async finish(flushBudgetMs: number): Promise<void> {
    await this.drain({ flushes: false });
    await Promise.race([this.drain(), this.options.clock.sleep(flushBudgetMs)]);
  }

  /** Stops retrying and releases the driver; the kernel keeps every ban. */
  stop(): void {
    // Flushes still waiting for a turn are dropped: the process is about to exit.
    this.stopped = true;
    for (const wake of [...this.flushWaiting.urgent.drain(), ...this.flushWaiting.bulk.drain(), ...this.commitsDoneWaiters.splice(0)]) wake();
    for (const c of this.flushAborts) c.abort(COMMIT_FIRST);
    this.cancelRetry?.();
    this.cancelRetry = undefined;
    this.driver.close();
  }

  private enqueue(op: Operation): void {
    this.queue.push(op);
    if (op.op === 'ban') for (const c of this.flushAborts) c.abort(COMMIT_FIRST);
    if (!this.running && !this.cancelRetry) this.kick();
  }

  /**
   * The commit starts after the current turn: the bans decided in one turn (a siege's first
   * members, the events of one AMI read) go in one transaction. Started at once, the first went
   * alone and the other nine waited for its commit, then committed in a second one (12 and 28 ms
   * after their event under a saturated PBX).
   */
  private kick(): void {
    this.running = Promise.resolve().then(() => this.commitQueued()).finally(() => {
      this.running = undefined;
      if (this.queue.length > 0 && !this.cancelRetry) this.kick();
      else if (this.queue.length === 0) for (const wake of this.commitsDoneWaiters.splice(0)) wake();
    });
  }

  /** Resolves once no change is being committed or waits to be (at once when none is). */
  private commitsDone(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.commitsDoneWaiters.push(resolve));
  }

  private async commitQueued(): Promise<void> {
    const ops = this.queue;
    this.queue = [];
    let done = 0;
    try {
      if (!this.ready) {
        await this.driver.init();
        this.ready = true;
      }
      while (done < ops.length) done += await this.apply(ops, done);
    } catch (error) {
      this.failures++;
      this.stats.firewallErrors++;
      if (this.failures === 1) this.bus.emit('trouble', { kind: 'firewall-failing', time: this.options.clock.now(), text: `firewall command failing, bans queued and retried: ${(error as Error).message}` });
      const delay = backoff(this.failures, this.options.retryBaseMs, this.options.retryMaxMs);
      const left = ops.slice(done);
      this.log.error({ err: error, driver: this.driver.name, changes: left.length, retry_in_ms: delay }, 'firewall update failed; bans kept queued and retried');
      this.queue = [...left, ...this.queue];
      this.cancelRetry = this.options.clock.after(delay, () => {
        this.cancelRetry = undefined;
        if (!this.running) this.kick();
      });
      return;
    }
    if (this.failures > 0) this.log.info({ driver: this.driver.name }, 'firewall updates work again');
    this.failures = 0;
  }

  /** Applies the run of operations of one kind that starts at `from`; returns its length. */
  private async apply(ops: readonly Operation[], from: number): Promise<number> {
    const head = ops[from]!;
    let end = from + 1;
    while (end < ops.length && ops[end]!.op === head.op) end++;
    const run = ops.slice(from, end);
    const now = this.options.clock.now();
    switch (head.op) {
      case 'ban': {
        const bans = run as BanOperation[];
        const refused = await this.commitBans(bans, now);
        // Nothing went in: the firewall itself fails (nft missing, no permission). The whole
        // run waits with backoff, in order.
        if (refused.length === bans.length) throw refused[0]!.error;
        for (const r of refused) this.setAside(r.ban, r.error);
        break;
      }
      case 'lift': {
        const lifts = run as Array<Operation & { op: 'lift' }>;
        await this.driver.unban(lifts.map((l) => l.prefix));
        for (const l of lifts) this.bus.emit('lifted', l.prefix, l.time, l.origin, l.via);
        break;
      }
      // Only the latest list matters.
      case 'allow':
        await this.driver.setAllowed((run.at(-1) as Operation & { op: 'allow' }).prefixes);
        break;
      case 'listed':
        this.listed = (run.at(-1) as Operation & { op: 'listed' }).prefixes;
        await this.driver.setListed(this.listed);
        break;
      case 'reconcile':
        await this.driver.reconcile((run.at(-1) as Operation & { op: 'reconcile' }).bans, now);
        break;
      case 'rebuild': {
        const rebuilds = run as Array<Operation & { op: 'rebuild' }>;
        const last = rebuilds.at(-1)!;
        await this.driver.rebuild(last.bans, last.allowed, now, this.listed);
        for (const b of last.bans) this.track(this.flushBoth(b.prefix, false).then(() => undefined));
        for (const r of rebuilds) r.done();
        break;
      }
    }
    return run.length;
  }

  /**
   * Commits the bans in one transaction; when the kernel refuses it, in halves, so one element
   * it refuses never holds back the others. Returns the bans refused on their own.
   */
  private async commitBans(bans: readonly BanOperation[], now: number): Promise<Array<{ ban: BanOperation; error: unknown }>> {
    try {
      await this.driver.ban(bans.map((b) => ({ prefix: b.decision.target, until: untilOf(b.decision, now), replaces: b.decision.replaces })), now);
    } catch (error) {
      if (bans.length === 1) return [{ ban: bans[0]!, error }];
      const half = Math.ceil(bans.length / 2);
      return [...(await this.commitBans(bans.slice(0, half), now)), ...(await this.commitBans(bans.slice(half), now))];
    }
    const committedAt = this.options.clock.monotonic();
    this.stats.committed += bans.length;
    for (const b of bans) this.bus.emit('committed', b.decision, untilOf(b.decision, now));
    for (const b of bans) this.track(this.flushAll(b.decision, b.receivedAt, committedAt));
    return [];
  }

  /** A ban the kernel refused while others went in: retried on its own, with backoff, and said. */
  private setAside(ban: BanOperation, error: unknown): void {
    ban.refusals++;
    this.stats.firewallErrors++;
    const delay = backoff(ban.refusals, this.options.retryBaseMs, this.options.retryMaxMs);
    this.log.error({ err: error, prefix: ban.decision.target.text, refusals: ban.refusals, retry_in_ms: delay }, 'the kernel refused this ban alone; the others went in; it is retried');
    if (ban.refusals === 1) this.bus.emit('trouble', { kind: 'firewall-failing', time: this.options.clock.now(), text: `the kernel refused the ban of ${ban.decision.target.text} (the others went in); retrying: ${(error as Error).message}` });
    this.options.clock.after(delay, () => this.enqueue(ban));
  }

  private track(work: Promise<void>): void {
    this.flushes.add(work);
    void work.finally(() => this.flushes.delete(work));
  }

  /** A committed ban's flushes, then its latencies on the bus. */
  private async flushAll(decision: BanDecision, receivedAt: number, committedAt: number): Promise<void> {
    const flushed = await this.flushBoth(decision.target, decision.origin === 'auto');
    if (!flushed) return;
    const since = (t: number | null) => (t === null ? null : t - receivedAt);
    this.bus.emit('flushed', decision, { kernel: committedAt - receivedAt, conntrack: since(flushed[0]), conntrackTo: since(flushed[1]) });
  }

  /**
   * The attack's own flows first, alone; then the flows towards it. A few at a time, the
   * urgent (the policy's bans) ahead of the rest; undefined when the enforcer stopped first.
   */
  private async flushBoth(prefix: IpPrefix, urgent: boolean): Promise<[number | null, number | null] | undefined> {
    if (this.flushing >= FLUSHES_IN_FLIGHT) await new Promise<void>((resolve) => this.flushWaiting[urgent ? 'urgent' : 'bulk'].push(resolve));
    if (this.stopped) return undefined;
    this.flushing++;
    try {
      return [await this.flush(prefix, 'from'), await this.flush(prefix, 'to')];
    } finally {
      this.flushing--;
      (this.flushWaiting.urgent.shift() ?? this.flushWaiting.bulk.shift())?.();
    }
  }

  /**
   * One direction's flush, retried; when it finished, or null when it never did. Commits go
   * first: a conntrack delete walks the kernel's whole table, and an nft commit beside it took
   * 11-26 ms instead of 4 (a swarm's range ban waited 25 ms behind its members' flushes: every
   * millisecond two more guesses). So a flush starts only when no change waits for the kernel,
   * and a ban arriving meanwhile kills it; it starts again after (not counted as an attempt).
   */
  private async flush(prefix: IpPrefix, direction: FlowDirection): Promise<number | null> {
    for (let attempt = 1; attempt <= this.options.conntrackAttempts; ) {
      await this.commitsDone();
      if (this.stopped) return null;
      const abort = new AbortController();
      this.flushAborts.add(abort);
      try {
        await this.driver.flushConnections(prefix, direction, abort.signal);
        return this.options.clock.monotonic();
      } catch (error) {
        if (abort.signal.aborted) continue;
        attempt++;
        this.stats.conntrackErrors++;
        this.log.error({ err: error, prefix: prefix.text, direction, attempt: attempt - 1 }, 'conntrack flush failed');
        if (attempt <= this.options.conntrackAttempts) await this.options.clock.sleep(backoff(attempt - 1, this.options.retryBaseMs, this.options.retryMaxMs));
      } finally {
        this.flushAborts.delete(abort);
      }
    }
    return null;
  }
}

/** Kernel timeouts are wall time, whatever clock the deciding event had. */
function untilOf(d: BanDecision, now: number): number | null {
  return d.durationMs === null ? null : now + d.durationMs;
}
