import { describe, expect, it } from 'vitest';
import { elementStatements, initScript } from '../../src/enforce/nft-script.js';
import { prefix as p } from '../support/prefix.js';
import { conntrackDeleted, parseSetJson } from '../../src/enforce/nftables-driver.js';

const names = { table: 'asterisk_guard', priority: -310 };

describe('nft scripts', () => {
  it('creates our table, both sets and an early prerouting drop in one script', () => {
    const s = initScript(names);
    expect(s).toContain('add set inet asterisk_guard banned_v4 { type ipv4_addr; flags interval, timeout; }');
    expect(s).toContain('add set inet asterisk_guard banned_v6 { type ipv6_addr; flags interval, timeout; }');
    expect(s).toContain('type filter hook prerouting priority -310; policy accept;');
    expect(s).toContain('ip saddr @banned_v4 counter drop');
    expect(s).toContain('ip6 saddr @banned_v6 counter drop');
  });

  it('batches deletes before adds, one statement per set, with timeouts', () => {
    const now = 1_000_000;
    const s = elementStatements(
      names,
      [
        { op: 'add', prefix: p('203.0.113.0/24'), until: now + 600_000 },
        { op: 'delete', prefix: p('203.0.113.66') },
        { op: 'add', prefix: p('2001:db8:66::/64'), until: null },
        { op: 'add', prefix: p('198.51.100.7'), until: now + 1 },
      ],
      now,
    );
    expect(s).toEqual([
      'delete element inet asterisk_guard banned_v4 { 203.0.113.66 }',
      'add element inet asterisk_guard banned_v4 { 203.0.113.0/24 timeout 600s, 198.51.100.7 timeout 1s }',
      'add element inet asterisk_guard banned_v6 { 2001:db8:66::/64 }',
    ]);
  });

  it('reads the kernel set back, skipping what it cannot parse', () => {
    const json = JSON.stringify({
      nftables: [
        { metainfo: {} },
        {
          set: {
            elem: [
              { elem: { val: { prefix: { addr: '198.51.100.0', len: 24 } }, timeout: 60, expires: 59 } },
              { elem: { val: '203.0.113.66', timeout: 60, expires: 30 } },
              '192.0.2.9',
              { elem: { val: 'garbage' } },
            ],
          },
        },
      ],
    });
    expect(parseSetJson(json, 0).map((b) => [b.prefix.text, b.until])).toEqual([
      ['198.51.100.0/24', 59_000],
      ['203.0.113.66', 30_000],
      ['192.0.2.9', null],
    ]);
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
