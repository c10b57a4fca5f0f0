/**
 * Every clock and timer the edges use, injected: the daemon gets the system's, tests a manual
 * one they advance, so no test sleeps for time to pass. The core never sees a clock: time
 * comes in with each event.
 */
export interface Clock {
  /** Wall time, ms since the epoch: ban expiries, the store, alerts. */
  now(): number;
  /** Monotonic ms, for latencies. */
  monotonic(): number;
  /** Runs `fn` after `ms`; the returned function cancels it. A timer never keeps the process alive. */
  after(ms: number, fn: () => void): () => void;
  /** Resolves after `ms`. */
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  after(ms, fn) {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return () => clearTimeout(timer);
  },
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms).unref()),
};
