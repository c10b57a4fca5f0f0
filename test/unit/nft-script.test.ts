import { describe, expect, it } from 'vitest';
import { BASE_SETS, bannedSetName, elementStatements, initScript, maskText, parseBannedSetName } from '../../src/enforce/nft-script.js';
import { prefix as p } from '../support/prefix.js';
import { conntrackDeleted, parseSetJson } from '../../src/enforce/nftables-driver.js';

const names = { table: 'asterisk_guard', priority: -310 };

describe('nft scripts', () => {
  it('creates our table, the sets and an early prerouting chain, allowed first, in one script', () => {
    const s = initScript(names, [...BASE_SETS, { family: 4, length: 24 }], ['banned_v4']).split('\n');
    expect(s).toContain('add set inet asterisk_guard banned_v4_32 { type ipv4_addr; flags timeout; }');
    expect(s).toContain('add set inet asterisk_guard banned_v6_64 { type ipv6_addr; flags timeout; }');
    expect(s).toContain('add set inet asterisk_guard allowed_v4 { type ipv4_addr; flags interval; }');
    expect(s.find((l) => l.includes('add chain'))).toContain('type filter hook prerouting priority -310; policy accept;');
    expect(s).toContain('delete set inet asterisk_guard banned_v4');
    const rules = s.filter((l) => l.startsWith('add rule'));
    expect(rules).toEqual([
      'add rule inet asterisk_guard prerouting ip saddr @allowed_v4 accept',
      'add rule inet asterisk_guard prerouting ip6 saddr @allowed_v6 accept',
      'add rule inet asterisk_guard prerouting ip saddr @banned_v4_32 counter drop',
      'add rule inet asterisk_guard prerouting ip6 saddr @banned_v6_128 counter drop',
      'add rule inet asterisk_guard prerouting ip6 saddr & ffff:ffff:ffff:ffff:0:0:0:0 @banned_v6_64 counter drop',
      'add rule inet asterisk_guard prerouting ip saddr & 255.255.255.0 @banned_v4_24 counter drop',
    ]);
  });

  it.each([
    [{ family: 4, length: 22 }, '255.255.252.0'],
    [{ family: 4, length: 1 }, '128.0.0.0'],
    [{ family: 6, length: 48 }, 'ffff:ffff:ffff:0:0:0:0:0'],
    [{ family: 6, length: 57 }, 'ffff:ffff:ffff:ff80:0:0:0:0'],
  ] as const)('spells the mask of %j as %s', (key, mask) => {
    expect(maskText(key)).toBe(mask);
  });

  it('names sets by family and length, and reads only valid names back', () => {
    expect(bannedSetName({ family: 6, length: 64 })).toBe('banned_v6_64');
    expect(parseBannedSetName('banned_v4_24')).toEqual({ family: 4, length: 24 });
    for (const bad of ['banned_v4', 'banned_v4_33', 'banned_v6_0', 'banned_v5_24', 'banned_v4_24x', 'allowed_v4']) expect(parseBannedSetName(bad)).toBeUndefined();
  });

  it('batches per set and phase: deletes and replacements made present, deleted, then the adds, marked; elements without their length', () => {
    const now = 1_000_000;
    const s = elementStatements(
      names,
      [
        { op: 'add', prefix: p('203.0.113.0/24'), until: now + 600_000, replaces: false },
        { op: 'delete', prefix: p('203.0.113.66') },
        { op: 'add', prefix: p('2001:db8:66::/64'), until: null, replaces: false },
        { op: 'add', prefix: p('198.51.100.7'), until: now + 1, replaces: true },
        { op: 'add', prefix: p('203.0.113.66'), until: now + 120_000, replaces: false },
      ],
      now,
    );
    expect(s).toEqual([
      'add element inet asterisk_guard banned_v4_32 { 203.0.113.66, 198.51.100.7 }',
      'delete element inet asterisk_guard banned_v4_32 { 203.0.113.66, 198.51.100.7 }',
      'add element inet asterisk_guard banned_v4_24 { 203.0.113.0 timeout 600s comment "asterisk-guard" }',
      'add element inet asterisk_guard banned_v6_64 { 2001:db8:66:: comment "asterisk-guard" }',
      'add element inet asterisk_guard banned_v4_32 { 198.51.100.7 timeout 1s comment "asterisk-guard", 203.0.113.66 timeout 120s comment "asterisk-guard" }',
    ]);
  });

  it('reads a banned set back with its length, whose it is and when it came, skipping what it cannot parse or what the mask would never match', () => {
    const json = JSON.stringify({
      nftables: [
        { metainfo: {} },
        {
          set: {
            elem: [
              { elem: { val: '198.51.100.0', timeout: 60, expires: 59, comment: 'asterisk-guard' } },
              { elem: { val: '203.0.113.0', comment: 'asterisk-guard' } },
              '192.0.2.0',
              { elem: { val: 'garbage' } },
              { elem: { val: { prefix: { addr: '198.51.100.0', len: 24 } } } },
              '192.0.2.9',
              '2001:db8::',
            ],
          },
        },
      ],
    });
    expect(parseSetJson(json, { family: 4, length: 24 }, 100_000).map((b) => [b.prefix.text, b.until, b.ours, b.added])).toEqual([
      ['198.51.100.0/24', 159_000, true, 99_000],
      ['203.0.113.0/24', null, true, null],
      ['192.0.2.0/24', null, false, null],
    ]);
    const other = JSON.stringify({ nftables: [{ set: { elem: [{ elem: { val: '192.0.2.9', timeout: 60, expires: 30, comment: 'fail2ban' } }] } }] });
    expect(parseSetJson(other, { family: 4, length: 32 }, 100_000)).toMatchObject([{ until: 130_000, ours: false, added: 70_000 }]);
  });
});

describe('conntrackDeleted', () => {
  it('takes "nothing matched" and "deleted meanwhile by the other direction" as done, and real failures as failures', () => {
    expect(conntrackDeleted({ exitCode: 0, stdout: '', stderr: 'conntrack v1.4.7 (conntrack-tools): 1 flow entries have been deleted.' })).toBe(true);
    expect(conntrackDeleted({ exitCode: 1, stdout: '', stderr: 'conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.' })).toBe(true);
    expect(conntrackDeleted({ exitCode: 1, stdout: '', stderr: "conntrack v1.4.7 (conntrack-tools): Operation failed: such conntrack doesn't exist" })).toBe(true);
    expect(conntrackDeleted({ exitCode: 1, stdout: '', stderr: 'conntrack v1.4.7 (conntrack-tools): Operation failed: Operation not permitted' })).toBe(false);
    expect(conntrackDeleted({ exitCode: 2, stdout: '', stderr: "CIDR notation unavailable for `--reply-dst'" })).toBe(false);
  });
});
