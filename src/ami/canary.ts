import { randomBytes } from 'node:crypto';
import type { Clock } from '../time/clock.js';

export interface CanaryOptions {
  readonly clock: Clock;
  readonly intervalMs: number;
  /** How long Asterisk may take to report the canary's failure. */
  readonly timeoutMs: number;
  /** Provokes the harmless failure: an AMI login as `account`, which does not exist. */
  readonly provoke: (account: string) => Promise<void>;
  /** No echo within the timeout: the guard is blind. */
  readonly onMissing: (account: string) => void;
  /** An echo again after a missing one. */
  readonly onRestored: () => void;
}

export interface CanaryState {
  readonly sentAt: number;
  readonly account: string;
  /** ms from the login to its security event; null while waiting or when none came. */
  readonly echoMs: number | null;
  readonly ok: boolean | null;
}

/**
 * Proves, every interval, that security events still arrive: the guard logs in to AMI as an
 * account that cannot exist and waits for Asterisk's InvalidAccountID about it. A `manager
 * reload` that dropped `read = security`, an eventfilter or security events turned off leave
 * the AMI connection up and pinging while the guard sees nothing; this is how it notices.
 * The canary's own event is recognised by its account and never scored. Each canary waits its
 * own timeout: with an interval shorter than the timeout several are awaited at once (a new one
 * used to cancel the one still waiting, so none ever timed out and the guard never said it was blind).
 */
export class Canary {
  private readonly waiting = new Map<string, { sentAt: number; cancel: () => void }>();
  private cancelNext: (() => void) | undefined;
  private failing = false;
  last: CanaryState | undefined;

  constructor(private readonly o: CanaryOptions) {}

  start(): void {
    this.cancelNext = this.o.clock.after(this.o.intervalMs, () => {
      this.fire();
      this.start();
    });
  }

  stop(): void {
    this.cancelNext?.();
    for (const w of this.waiting.values()) w.cancel();
    this.waiting.clear();
  }

  /** Is an echo awaited? (The event path asks only then.) */
  get awaiting(): boolean {
    return this.waiting.size > 0;
  }

  /** Is this event's account the canary's? Then it is the echo, and not to be scored. */
  echo(account: string | undefined): boolean {
    const w = account === undefined ? undefined : this.waiting.get(account);
    if (!w) return false;
    w.cancel();
    this.waiting.delete(account!);
    this.last = { sentAt: w.sentAt, account: account!, echoMs: this.o.clock.now() - w.sentAt, ok: true };
    if (this.failing) {
      this.failing = false;
      this.o.onRestored();
    }
    return true;
  }

  /** Sends one canary now. */
  fire(): void {
    const account = `asterisk-guard-canary-${randomBytes(6).toString('hex')}`;
    const sentAt = this.o.clock.now();
    const cancel = this.o.clock.after(this.o.timeoutMs, () => {
      if (!this.waiting.delete(account)) return;
      this.last = { sentAt, account, echoMs: null, ok: false };
      // One alert per blind spell, not one per interval.
      if (!this.failing) this.o.onMissing(account);
      this.failing = true;
    });
    this.waiting.set(account, { sentAt, cancel });
    this.last = { sentAt, account, echoMs: null, ok: this.last?.ok ?? null };
    void this.o.provoke(account).catch(() => {});
  }
}
