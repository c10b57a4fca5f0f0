import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SlotIndex } from '../../src/detect/slot-index.js';
import { SourceRecords } from '../../src/detect/source-records.js';
import { prefix } from '../support/prefix.js';

// Few distinct keys, v4 and v6 and the same bits at different lengths, so that probes collide.
const KEYS = [
  ...Array.from({ length: 40 }, (_, i) => `198.18.0.${i}`),
  '198.18.0.0/24',
  '198.18.0.0/31',
  ...Array.from({ length: 20 }, (_, i) => `2001:db8:${i.toString(16)}::/64`),
  '2001:db8::/64',
  '2001:db8::/128',
  '::c612:0/128',
].map(prefix);

describe('SlotIndex', () => {
  it('agrees with a Map on any sequence of finds, inserts and removes, and never holds more than max', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 70 }), fc.array(fc.tuple(fc.constantFrom('touch', 'remove'), fc.integer({ min: 0, max: KEYS.length - 1 })), { maxLength: 400 }), (max, ops) => {
        const index = new SlotIndex(new SourceRecords(max));
        const model = new Map<string, number>();
        for (const [op, k] of ops) {
          const key = KEYS[k]!;
          const slot = index.find(key);
          expect(slot).toBe(model.get(key.text) ?? -1);
          if (op === 'remove') {
            if (slot !== -1) index.remove(slot);
            model.delete(key.text);
          } else if (slot === -1) {
            const fresh = index.insert(key);
            expect(fresh).toBeLessThan(max);
            // A slot another source holds is an eviction: only when the index is full.
            const gone = [...model].find(([, s]) => s === fresh);
            if (gone) {
              expect(model.size).toBe(max);
              model.delete(gone[0]);
            }
            model.set(key.text, fresh);
          }
          expect(index.size).toBe(model.size);
          expect(index.size).toBeLessThanOrEqual(max);
        }
        for (const key of KEYS) expect(index.find(key)).toBe(model.get(key.text) ?? -1);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps 20k sources apart, and the rest after half are removed', () => {
    const index = new SlotIndex(new SourceRecords(20_000));
    const keys = Array.from({ length: 20_000 }, (_, i) => prefix(`198.${18 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`));
    const slots = keys.map((k) => index.insert(k));
    expect(new Set(slots).size).toBe(20_000);
    expect(keys.map((k) => index.find(k))).toEqual(slots);
    for (let i = 0; i < keys.length; i += 2) index.remove(slots[i]!);
    expect(keys.map((k) => index.find(k))).toEqual(slots.map((s, i) => (i % 2 === 0 ? -1 : s)));
  });

  it('evicts a source not seen since the hand last passed, not one just seen', () => {
    const index = new SlotIndex(new SourceRecords(3));
    const [a, b, c, d] = KEYS;
    for (const k of [a!, b!, c!]) index.insert(k);
    // The first eviction clears every mark and takes a; b and c are then unmarked.
    index.insert(d!);
    expect(index.find(a!)).toBe(-1);
    index.find(b!);
    index.insert(a!);
    expect(index.find(b!)).not.toBe(-1);
    expect(index.find(c!)).toBe(-1);
  });
});
