import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { contains, parseIpAddress, parseIpPrefix, widen } from '../../src/net/ip-prefix.js';

const ok = (text: string) => {
  const r = parseIpAddress(text);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
};

describe('IPv4-mapped prefixes (issue 24)', () => {
  it.each([
    ['::ffff:0:0/96', '0.0.0.0/0'],
    ['::ffff:203.0.113.0/120', '203.0.113.0/24'],
    ['::ffff:203.0.113.7/128', '203.0.113.7'],
  ])('reads %s as its IPv4 self, %s', (input, text) => {
    const r = parseIpPrefix(input);
    expect(r.ok && r.value.family === 4 && r.value.text).toBe(text);
  });
});

describe('parseIpAddress', () => {
  it.each([
    ['203.0.113.5', '203.0.113.5', 4],
    ['2001:db8::1', '2001:db8::1', 6],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1', 6],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1', 6],
    ['::ffff:203.0.113.5', '203.0.113.5', 4],
    ['::FFFF:cb00:7105', '203.0.113.5', 4],
    ['fe80::1%eth0', 'fe80::1', 6],
    ['fe80::1%2', 'fe80::1', 6],
    ['::', '::', 6],
    ['::1', '::1', 6],
    ['2001:db8::', '2001:db8::', 6],
    ['0.0.0.0', '0.0.0.0', 4],
  ])('%s -> %s', (input, text, family) => {
    const p = ok(input);
    expect(p.text).toBe(text);
    expect(p.family).toBe(family);
  });

  it.each([
    '',
    '203.0.113',
    '203.0.113.256',
    '203.0.113.05',
    '203.0.113.5.1',
    '203.0.113.-1',
    '2001:db8::1::2',
    '2001:db8:1:2:3:4:5:6:7',
    '2001:db8:::1',
    '12345::1',
    'g::1',
    '203.0.113.5%eth0',
    'fe80::1%',
    'localhost',
    '[2001:db8::1]',
    ' 203.0.113.5',
    '203.0.113.5;drop table',
    'a'.repeat(100),
  ])('rejects %j with a reason', (input) => {
    const r = parseIpAddress(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason.length).toBeGreaterThan(0);
  });

  it('round-trips every IPv4 address through its canonical text', () => {
    fc.assert(
      fc.property(fc.ipV4(), (ip) => {
        expect(ok(ip).text).toBe(ip);
      }),
    );
  });

  it('parses any IPv6 text to a canonical form that parses to itself', () => {
    fc.assert(
      fc.property(fc.ipV6(), (ip) => {
        const p = ok(ip);
        expect(ok(p.text).text).toBe(p.text);
      }),
    );
  });
});

describe('parseIpPrefix', () => {
  it('clears host bits and keeps full-length prefixes as plain addresses', () => {
    const p = parseIpPrefix('203.0.113.77/24');
    expect(p.ok && p.value.text).toBe('203.0.113.0/24');
    const a = parseIpPrefix('203.0.113.77/32');
    expect(a.ok && a.value.text).toBe('203.0.113.77');
    const v6 = parseIpPrefix('2001:db8:66::66/64');
    expect(v6.ok && v6.value.text).toBe('2001:db8:66::/64');
  });

  it.each(['203.0.113.0/33', '2001:db8::/129', '203.0.113.0/', '203.0.113.0/-1', '203.0.113.0/2a', 'x/24'])('rejects %j', (input) => {
    expect(parseIpPrefix(input).ok).toBe(false);
  });

  it('contains and widen agree', () => {
    const net = parseIpPrefix('2001:db8:66::/64');
    const host = ok('2001:db8:66::66');
    const other = ok('2001:db8:67::66');
    if (!net.ok) throw new Error();
    expect(contains(net.value, host)).toBe(true);
    expect(contains(net.value, other)).toBe(false);
    expect(contains(host, net.value)).toBe(false);
    expect(widen(host, 64).text).toBe('2001:db8:66::/64');
    expect(contains(ok('203.0.113.1'), ok('2001:db8::1'))).toBe(false);
  });
});
