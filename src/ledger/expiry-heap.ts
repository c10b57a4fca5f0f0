/**
 * When timed bans end, soonest first: a binary min-heap of (until, slot, generation) in typed
 * arrays, 16 bytes a ban. Entries are not removed when a ban is lifted or replaced; the ledger
 * skips stale ones as they come up (the generation tells a reused slot apart).
 */
export class ExpiryHeap {
  private untils = new Float64Array(1024);
  private slots = new Uint32Array(1024);
  private generations = new Uint32Array(1024);
  private count = 0;

  get size(): number {
    return this.count;
  }

  push(until: number, slot: number, generation: number): void {
    if (this.count === this.untils.length) this.grow();
    let i = this.count++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.untils[parent]! <= until) break;
      this.move(parent, i);
      i = parent;
    }
    this.untils[i] = until;
    this.slots[i] = slot;
    this.generations[i] = generation;
  }

  /** The soonest end, or Infinity when empty. */
  peekUntil(): number {
    return this.count === 0 ? Infinity : this.untils[0]!;
  }

  peekSlot(): number {
    return this.slots[0]!;
  }

  peekGeneration(): number {
    return this.generations[0]!;
  }

  pop(): void {
    const last = --this.count;
    if (last === 0) return;
    const until = this.untils[last]!;
    const slot = this.slots[last]!;
    const generation = this.generations[last]!;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= last) break;
      if (child + 1 < last && this.untils[child + 1]! < this.untils[child]!) child++;
      if (this.untils[child]! >= until) break;
      this.move(child, i);
      i = child;
    }
    this.untils[i] = until;
    this.slots[i] = slot;
    this.generations[i] = generation;
  }

  private move(from: number, to: number): void {
    this.untils[to] = this.untils[from]!;
    this.slots[to] = this.slots[from]!;
    this.generations[to] = this.generations[from]!;
  }

  private grow(): void {
    const n = this.untils.length * 2;
    const untils = new Float64Array(n);
    untils.set(this.untils);
    const slots = new Uint32Array(n);
    slots.set(this.slots);
    const generations = new Uint32Array(n);
    generations.set(this.generations);
    this.untils = untils;
    this.slots = slots;
    this.generations = generations;
  }
}
