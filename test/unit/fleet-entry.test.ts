import { describe, expect, it } from 'vitest';
import { encodeEntry, parseEntry } from '../../src/fleet/fleet-entry.js';
import { parseIpPrefix } from '../../src/net/ip-prefix.js';

const WIDEST = { 4: 16, 6: 32 } as const;
const p = (t: string) => {
  const r = parseIpPrefix(t);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
};

describe('fleet stream entries', () => {
  it('round-trips a ban and an unban', () => {
    const ban = { op: 'ban', node: 'pbx-a', prefix: p('203.0.113.66'), until: 1_795_000_000_000, reason: 'brute-force' } as const;
    expect(parseEntry(encodeEntry(ban), WIDEST)).toEqual({ ok: true, entry: ban });
    const permanent = { ...ban, prefix: p('2001:db8:66::/64'), until: null };
    expect(parseEntry(encodeEntry(permanent), WIDEST)).toEqual({ ok: true, entry: permanent });
    const unban = { op: 'unban', node: 'pbx-c', prefix: p('198.51.100.0/24') } as const;
    expect(parseEntry(encodeEntry(unban), WIDEST)).toEqual({ ok: true, entry: unban });
  });

  const ban = { op: 'ban', node: 'pbx-a', prefix: '203.0.113.66', until: '1795000000000', reason: 'brute-force' };
  it.each([
    [{ ...ban, prefix: '0.0.0.0/0' }, /wider than \/16/],
    [{ ...ban, prefix: '2001:db8::/16' }, /wider than \/32/],
    [{ ...ban, prefix: '203.0.113.66 } ; flush ruleset' }, /prefix/],
    [{ ...ban, prefix: 'garbage' }, /prefix/],
    [{ ...ban, prefix: 'x'.repeat(10 * 1024 * 1024) }, /longer than 128/],
    [{ ...ban, reason: 'x'.repeat(65) }, /reason/],
    [{ ...ban, reason: 'bad\nline' }, /reason/],
    [{ ...ban, node: '../etc' }, /node/],
    [{ ...ban, node: undefined }, /node/],
    [{ ...ban, op: 'flush' }, /neither ban nor unban/],
    [{ ...ban, until: '-5' }, /until/],
    [{ ...ban, until: '1e99' }, /until/],
    [{ ...ban, extra: 'x' }, /unknown field/],
  ])('refuses %#', (fields, why) => {
    const r = parseEntry(Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Record<string, string>, WIDEST);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(why);
  });
});
