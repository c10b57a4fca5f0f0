import type { Clock } from '../../src/time/clock.js';

/**
 * A clock that moves only when the test says so. `advance` runs every timer that falls due,
 * in time order, letting promises settle between them, so retry and digest logic runs as it
 * would over minutes, in microseconds.
 */
export class ManualClock implements Clock {
  private time: number;
  private mono = 0;
  private timers: Array<{ at: number; fn: () => void; id: number }> = [];
  private nextId = 0;

  constructor(start = 1_700_000_000_000) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  monotonic(): number {
    return this.mono;
  }

  after(ms: number, fn: () => void): () => void {
    const id = this.nextId++;
    this.timers.push({ at: this.time + Math.max(0, ms), fn, id });
    return () => {
      this.timers = this.timers.filter((t) => t.id !== id);
    };
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.after(ms, resolve));
  }

  /** Moves time forward by `ms`, firing due timers in order. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    for (;;) {
      await settle();
      this.timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.mono += next.at - this.time;
      this.time = next.at;
      next.fn();
    }
    this.mono += end - this.time;
    this.time = end;
    await settle();
  }
}

/** Lets queued promise callbacks (and the I/O they started, a few turns of it) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}
