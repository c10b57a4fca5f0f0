import { describe, expect, it } from 'vitest';
import { readApibanPage, readDecisionStream, readGoDuration, readPlainList } from '../../src/feeds/feed-formats.js';

// Bodies as the services document them (APIBAN's README, CrowdSec's LAPI swagger, FireHOL's
// netset headers), and what a broken proxy or a hostile mirror might send instead.

describe('readPlainList', () => {
  it('reads addresses and CIDRs, one a line, with comments and trailing words', () => {
    const text = ['#', '# FireHOL netset: voipbl', '# Entries: 3', '203.0.113.66', '198.51.100.0/24  # a scanner range', '2001:db8:66::/48 ; v6', '192.0.2.7 2026-12-01', '', '  '].join('\n');
    const r = readPlainList(text);
    expect(r.entries).toEqual(['203.0.113.66', '198.51.100.0/24', '2001:db8:66::/48', '192.0.2.7']);
    expect(r.skipped).toBe(0);
  });

  it('counts what it cannot read and keeps the rest: a word, a bad length, an HTML page', () => {
    const r = readPlainList(['203.0.113.1', 'not-an-address', '198.51.100.0/33', `<html>${'x'.repeat(600)}</html>`, '203.0.113.9/24'].join('\n'));
    expect(r.entries).toEqual(['203.0.113.1', '203.0.113.0/24']);
    expect(r.skipped).toBe(3);
    expect(r.examples.map((e) => e.where)).toEqual(['line 2', 'line 3', 'line 4']);
  });
});

describe('readApibanPage', () => {
  it('reads a page and the ID to ask for next', () => {
    const r = readApibanPage(200, JSON.stringify({ ipaddress: ['203.0.113.66', '198.51.100.7'], ID: '1656331425' }));
    expect(r).toMatchObject({ kind: 'page', id: '1656331425' });
    expect(r.kind === 'page' && r.list.entries).toEqual(['203.0.113.66', '198.51.100.7']);
  });

  it('knows the end marker, and errors whose ipaddress is a string', () => {
    expect(readApibanPage(400, '{"ipaddress":["no new bans"], "ID":"none"}')).toEqual({ kind: 'end' });
    expect(readApibanPage(403, '{"ipaddress":"unauthorized", "ID":"none"}')).toEqual({ kind: 'error', message: 'HTTP 403: unauthorized' });
    expect(readApibanPage(429, '{"ipaddress":"rate limit exceeded","ID":"none"}', '60')).toEqual({ kind: 'error', message: 'HTTP 429: rate limit exceeded', retryAfterMs: 60_000 });
  });

  it('refuses what is not an APIBAN answer, and counts entries that are no address', () => {
    expect(readApibanPage(200, '<html>maintenance</html>')).toMatchObject({ kind: 'error', message: expect.stringMatching(/not JSON/) });
    expect(readApibanPage(200, '{"ipaddress":"x"}')).toMatchObject({ kind: 'error' });
    expect(readApibanPage(502, '{}')).toMatchObject({ kind: 'error', message: 'HTTP 502: HTTP 502' });
    const r = readApibanPage(200, JSON.stringify({ ipaddress: ['203.0.113.66', 7, 'evil; rm -rf /', '1.2.3.4/99'], ID: 42 }));
    expect(r.kind === 'page' && [r.list.entries.length, r.list.skipped, r.id]).toEqual([1, 3, '42']);
  });
});

describe('readDecisionStream', () => {
  const decision = (o: Record<string, unknown>) => ({ duration: '3h59m55.5s', id: 1, origin: 'CAPI', scenario: 'crowdsecurity/ssh-bf', scope: 'Ip', type: 'ban', value: '203.0.113.66', ...o });

  it('reads new and deleted (either may be null), Ip and Range, with Go durations', () => {
    const r = readDecisionStream(JSON.stringify({ new: [decision({}), decision({ scope: 'Range', value: '198.51.100.0/24', duration: '167h' })], deleted: null }));
    expect('error' in r).toBe(false);
    if ('error' in r) return;
    expect(r.added.map((d) => [d.prefix, d.durationMs])).toEqual([['203.0.113.66', 14_395_500], ['198.51.100.0/24', 167 * 3_600_000]]);
    const gone = readDecisionStream(JSON.stringify({ new: null, deleted: [decision({ duration: '-2m' })] }));
    expect('error' in gone || gone.deleted).toEqual(['203.0.113.66']);
  });

  it('skips what is not a ban of an address or range, and counts it', () => {
    const r = readDecisionStream(JSON.stringify({
      new: [decision({ type: 'captcha' }), decision({ scope: 'Country', value: 'FR' }), decision({ value: '198.51.100.0/24' }), decision({ duration: 'soon' }), decision({ duration: '-1s' }), 'x', decision({ value: '2001:db8::1' })],
      deleted: [],
    }));
    expect('error' in r || [r.added.map((d) => d.prefix), r.skipped]).toEqual([['2001:db8::1'], 6]);
  });

  it('refuses a body that is no stream', () => {
    for (const body of ['', '[]', '{"new": {}}', 'null']) expect(readDecisionStream(body)).toHaveProperty('error');
  });
});

describe('readGoDuration', () => {
  it('reads what Go prints', () => {
    expect(readGoDuration('3h59m55s')).toBe((3 * 3600 + 59 * 60 + 55) * 1000);
    expect(readGoDuration('1.5s')).toBe(1500);
    expect(readGoDuration('500ms')).toBe(500);
    expect(readGoDuration('-1m0s')).toBe(-60_000);
    expect(readGoDuration('0')).toBe(0);
    for (const bad of ['', '5', 'h', '3d', '1h 2m', 'NaNs']) expect(readGoDuration(bad)).toBeUndefined();
  });
});
