import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { processRunner } from '../../src/enforce/command-runner.js';
import { lineOutcome, NftSession } from '../../src/enforce/nft-session.js';

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

describe('NftSession', () => {
  it("keeps a new process's lines when the process it closed exits late (found by the kernel benchmark)", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ag-nft-'));
    // A stand-in for `nft -i`: answers each line's sentinel after 300 ms, exits 100 ms after its input ends.
    writeFileSync(
      path.join(dir, 'nft'),
      '#!/bin/bash\nwhile IFS= read -r line; do case "$line" in ag_sentinel_*) sleep 0.3; printf \'Error: syntax error, unexpected newline, expecting string\\n%s\\n  ^\\n\' "$line" >&2;; esac; done\nsleep 0.1\n',
      { mode: 0o755 },
    );
    const session = new NftSession(processRunner(['env', `PATH=${dir}:${process.env['PATH']}`]));
    await session.apply(['add table inet t']);
    session.close();
    await expect(session.apply(['add table inet t'])).resolves.toBeUndefined();
    session.close();
  });
});
