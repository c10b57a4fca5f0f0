import { describe, expect, it } from 'vitest';
import { ConntrackWatch, parseConntrackDrops, readConntrackLoad } from '../../src/enforce/conntrack-load.js';

// /proc/net/stat/nf_conntrack as Linux 6.18 writes it (two CPUs), drops 0x10 and 0x2a.
const STAT = `entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
00040000  00000000 00000000 00000000 00000003 00000000 00000000 00000000 00000000 00000000 00000010 00000005 00000000  00000000 00000000 00000000 00000000
00040000  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 0000002a 00000000 00000000  00000000 00000000 00000000 00000000
`;

const files = (over: Record<string, string> = {}) => (f: string) => {
  const all: Record<string, string> = { '/proc/sys/net/netfilter/nf_conntrack_count': '262144\n', '/proc/sys/net/netfilter/nf_conntrack_max': '262144\n', '/proc/net/stat/nf_conntrack': STAT, ...over };
  const text = all[f];
  if (text === undefined) throw Object.assign(new Error(`ENOENT: ${f}`), { code: 'ENOENT' });
  return text;
};

describe('the connection tracking table read from /proc', () => {
  it('sums the drop column over the CPUs, in hexadecimal', () => {
    expect(parseConntrackDrops(STAT)).toBe(0x10 + 0x2a);
    expect(readConntrackLoad(files())).toEqual({ entries: 262_144, max: 262_144, drops: 58 });
  });

  it('is undefined where the namespace tracks no connections (no nf_conntrack_count)', () => {
    expect(readConntrackLoad(files({ '/proc/sys/net/netfilter/nf_conntrack_count': undefined as unknown as string }))).toBeUndefined();
  });

  it('refuses text of another shape, naming the file', () => {
    expect(() => parseConntrackDrops('')).toThrow(/nf_conntrack: no "drop" column/);
    expect(() => parseConntrackDrops('entries found new\n00000001 00000002 00000003\n')).toThrow(/no "drop" column/);
    expect(() => parseConntrackDrops(STAT.replace('0000002a', 'zz'))).toThrow(/"00040000 .* has no hexadecimal count in the drop column/);
    expect(() => parseConntrackDrops(STAT.split('\n')[0]!)).toThrow(/no line per CPU/);
  });
});

describe('the connection tracking watch', () => {
  const load = (entries: number, drops: number) => ({ entries, max: 1000, drops });

  it('tells once when new connections are dropped, and once when there is room again', () => {
    const w = new ConntrackWatch();
    // Drops counted before the guard started are not news.
    expect(w.look(load(500, 40), 10_000)).toBeUndefined();
    const full = w.look(load(900, 52), 10_000);
    expect(full?.kind).toBe('conntrack-full');
    expect(full?.text).toContain('900 of 1,000 entries');
    expect(full?.text).toContain('dropped 12 packets of new connections in the last 10 s');
    expect(full?.text).toContain('nf_conntrack_max');
    expect(w.look(load(1000, 90), 10_000)).toBeUndefined();
    // Emptier, but still dropping: not yet.
    expect(w.look(load(850, 95), 10_000)).toBeUndefined();
    expect(w.look(load(850, 95), 10_000)?.kind).toBe('conntrack-restored');
    expect(w.look(load(850, 95), 10_000)).toBeUndefined();
  });

  it('tells before the first drop, at 95% of the room, and stays told until below 90%', () => {
    const w = new ConntrackWatch();
    expect(w.look(load(949, 0), 10_000)).toBeUndefined();
    expect(w.look(load(950, 0), 10_000)?.text).toContain('about to drop');
    expect(w.look(load(920, 0), 10_000)).toBeUndefined();
    expect(w.look(load(899, 0), 10_000)?.kind).toBe('conntrack-restored');
  });
});
