import { describe, expect, it } from 'vitest';
import { lineOutcome } from '../../src/enforce/nft-session.js';

// Real `nft -i` stderr (nftables 1.0.6): a failed line, then the sentinels of lines 1 and 10.
const failed =
  'Error: Could not process rule: No such file or directory\n' +
  'delete element inet asterisk_guard banned_v4_32 { 203.0.113.66 }; add element inet asterisk_guard banned_v4_32 { 203.0.113.66 timeout 120s }\n' +
  '                                                  ^^^^^^^^^^^^\n';
const sentinel = (n: number) => `Error: syntax error, unexpected newline, expecting string\nag_sentinel_7_${n}\n${' '.repeat(14 + String(n).length)}^\n`;

describe('lineOutcome (nft -i stderr)', () => {
  it('waits for the whole sentinel, wherever the output is cut', () => {
    const text = failed + sentinel(1);
    for (let i = 0; i < text.length; i++) {
      expect(lineOutcome(text.slice(0, i), 'ag_sentinel_7_1'), `cut at ${i}`).toBeUndefined();
    }
    expect(lineOutcome(text, 'ag_sentinel_7_1')).toEqual({ consumed: text.length, error: failed });
  });

  it('reports success when only the sentinel failed', () => {
    expect(lineOutcome(sentinel(3), 'ag_sentinel_7_3')).toEqual({ consumed: sentinel(3).length, error: undefined });
  });

  it('does not take sentinel 10 for sentinel 1', () => {
    expect(lineOutcome(sentinel(10), 'ag_sentinel_7_1')).toBeUndefined();
  });

  it('leaves the next line alone', () => {
    const text = sentinel(4) + failed;
    const r = lineOutcome(text, 'ag_sentinel_7_4');
    expect(text.slice(r!.consumed)).toBe(failed);
  });
});
