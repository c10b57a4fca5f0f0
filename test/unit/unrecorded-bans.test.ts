import { describe, expect, it } from 'vitest';
import type { KernelBan } from '../../src/enforce/firewall-driver.js';
import { unrecordedBans, type BanRecord } from '../../src/enforce/unrecorded-bans.js';
import { parseIpPrefix, type IpPrefix } from '../../src/net/ip-prefix.js';

const p = (text: string): IpPrefix => {
  const r = parseIpPrefix(text);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
};
const NOW = 10_000_000;
const HOUR = 3_600_000;
const kernelBan = (text: string, until: number | null, added: number | null, ours = true): KernelBan => ({ prefix: p(text), until, added, ours });
const kept = (kernel: KernelBan[], records: Record<string, BanRecord[]>) => unrecordedBans(kernel, (prefix) => records[prefix.text] ?? [], NOW).map((b) => b.prefix.text);

describe('unrecordedBans: the kernel bans a crash kept from the store', () => {
  it('keeps the guard\'s own bans the store has no record of', () => {
    expect(kept([kernelBan('198.51.100.7', NOW + HOUR, NOW - 5000), kernelBan('2001:db8:7::/64', null, null)], {})).toEqual(['198.51.100.7', '2001:db8:7::/64']);
  });

  it('never keeps an element someone else added, or one that has run out', () => {
    expect(kept([kernelBan('198.51.100.7', NOW + HOUR, NOW - 5000, false), kernelBan('198.51.100.8', NOW, NOW - HOUR)], {})).toEqual([]);
  });

  it('takes a record that lasts as long, within nft\'s whole seconds, as the same ban', () => {
    const k = kernelBan('198.51.100.7', NOW + HOUR, NOW - 5000);
    expect(kept([k], { '198.51.100.7': [{ until: NOW + HOUR - 1500, lifted: null }] })).toEqual([]);
    expect(kept([k], { '198.51.100.7': [{ until: null, lifted: null }] })).toEqual([]);
    // The record of an earlier, shorter ban: the escalation that lengthened it was lost.
    expect(kept([k], { '198.51.100.7': [{ until: NOW + 60_000, lifted: null }] })).toEqual(['198.51.100.7']);
    expect(kept([kernelBan('198.51.100.7', null, null)], { '198.51.100.7': [{ until: NOW + HOUR, lifted: null }] })).toEqual(['198.51.100.7']);
  });

  it('lets an unban after the element came stand; an unban before it is of an older ban', () => {
    const k = kernelBan('198.51.100.7', NOW + HOUR, NOW - 60_000);
    expect(kept([k], { '198.51.100.7': [{ until: NOW + HOUR, lifted: NOW - 30_000 }] })).toEqual([]);
    expect(kept([k], { '198.51.100.7': [{ until: NOW - 100_000, lifted: NOW - 200_000 }] })).toEqual(['198.51.100.7']);
    // Without a timeout the element does not say when it came: any unban ends it.
    expect(kept([kernelBan('198.51.100.7', null, null)], { '198.51.100.7': [{ until: null, lifted: NOW - 10 * HOUR }] })).toEqual([]);
  });
});
