import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { buildCore } from '../../src/core.js';
import { createLogger } from '../../src/log.js';
import { parseIpPrefix, type IpPrefix } from '../../src/net/ip-prefix.js';
import { Activity } from '../../src/web/activity.js';
import { queryBans, selectRange, smallest, type BanQuery } from '../../src/web/bans-query.js';
import { cookieValue, defaultHosts, SESSION_IDLE_MS, WebAccess } from '../../src/web/web-access.js';
import { xorshift32 } from '../../lab/xorshift.js';

const MIN = 60_000;
const T0 = Date.UTC(2026, 11, 5, 10, 0, 0);
const p = (text: string): IpPrefix => {
  const r = parseIpPrefix(text);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
};

describe('web access: login tokens, sessions, hosts, origins', () => {
  const access = () => new WebAccess(new Set(defaultHosts('127.0.0.1:9472')));

  it('swaps a login token once for a session, which a request then carries', () => {
    const a = access();
    const token = a.mintToken(T0);
    const session = a.login(token, T0 + 1000)!;
    expect(session).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.login(token, T0 + 2000)).toBeUndefined();
    expect(a.checkSession(`theme=dark; ag_session=${session}`, T0 + 3000)).toBeUndefined();
  });

  it('refuses an expired token, an idle session, a forged or doubled cookie', () => {
    const a = access();
    expect(a.login(a.mintToken(T0), T0 + 11 * MIN)).toBeUndefined();
    const session = a.login(a.mintToken(T0), T0)!;
    expect(a.checkSession(`ag_session=${session}`, T0 + SESSION_IDLE_MS + 1)).toMatchObject({ status: 401 });
    const fresh = a.login(a.mintToken(T0), T0)!;
    for (const cookie of [undefined, '', 'ag_session=', `ag_session=${'A'.repeat(43)}`, `ag_session=${fresh}; ag_session=${fresh}`, `ag_session=${fresh}x`, 'ag_session=../../etc/passwd', `x=${'y'.repeat(9000)}; ag_session=${fresh}`]) {
      expect(a.checkSession(cookie, T0 + 1000), String(cookie).slice(0, 40)).toMatchObject({ status: 401 });
    }
    expect(a.checkSession(`ag_session=${fresh}`, T0 + 1000)).toBeUndefined();
  });

  it('refuses malformed login tokens without looking them up', () => {
    const a = access();
    for (const t of ['', 'short', 'a b c d e f g h i j k l m n o p q r s t', '%00'.repeat(10), 'x'.repeat(65)]) expect(a.login(t, T0)).toBeUndefined();
  });

  it('keeps at most 16 unused tokens: minting cannot grow memory', () => {
    const a = access();
    const first = a.mintToken(T0);
    for (let i = 0; i < 16; i++) a.mintToken(T0);
    expect(a.login(first, T0)).toBeUndefined();
  });

  it('logs out: the session is gone', () => {
    const a = access();
    const session = a.login(a.mintToken(T0), T0)!;
    a.logout(`ag_session=${session}`);
    expect(a.checkSession(`ag_session=${session}`, T0)).toMatchObject({ status: 401 });
  });

  it('answers to the listen address and localhost only (DNS rebinding)', () => {
    const a = access();
    for (const host of ['127.0.0.1:9472', 'localhost:9472', 'LOCALHOST:9472', '[::1]:9472']) expect(a.checkHost(host), host).toBeUndefined();
    for (const host of [undefined, '', 'evil.example:9472', '127.0.0.1', '127.0.0.1:80', 'localhost.evil.example:9472']) expect(a.checkHost(host), String(host)).toMatchObject({ status: 421 });
    expect(defaultHosts('192.0.2.1:9472')).toEqual(['192.0.2.1:9472']);
    expect(defaultHosts('pbx.example.com')).toEqual(['pbx.example.com']);
    expect(defaultHosts('[2001:db8::1]:8443')).toEqual(['[2001:db8::1]:8443']);
  });

  it('takes a change only from the page itself, with a JSON body', () => {
    const a = access();
    const json = { 'content-type': 'application/json', host: '127.0.0.1:9472' };
    expect(a.checkChange({ ...json, origin: 'http://127.0.0.1:9472' })).toBeUndefined();
    expect(a.checkChange({ ...json, 'sec-fetch-site': 'same-origin' })).toBeUndefined();
    expect(a.checkChange({ ...json, 'content-type': 'application/json; charset=utf-8', origin: 'http://127.0.0.1:9472' })).toBeUndefined();
    for (const h of [
      { ...json, origin: 'http://evil.example' },
      { ...json, origin: 'http://127.0.0.1:9472.evil.example' },
      { ...json, origin: 'null' },
      { ...json },
      { ...json, 'sec-fetch-site': 'cross-site' },
      { ...json, 'sec-fetch-site': 'same-site' },
      { ...json, 'content-type': 'text/plain', origin: 'http://127.0.0.1:9472' },
      { ...json, 'content-type': 'application/x-www-form-urlencoded', origin: 'http://127.0.0.1:9472' },
      { ...json, 'content-type': undefined, origin: 'http://127.0.0.1:9472' },
    ]) {
      expect(a.checkChange(h), JSON.stringify(h)).toMatchObject({ status: 403 });
    }
  });

  it('reads one cookie from a header, or nothing from a strange one', () => {
    expect(cookieValue('a=1; ag_session=xyz; b=2', 'ag_session')).toBe('xyz');
    expect(cookieValue('ag_session_other=1', 'ag_session')).toBeUndefined();
    expect(cookieValue(';;;', 'ag_session')).toBeUndefined();
  });
});

describe('activity: the chart and the top attackers', () => {
  it('counts failures and bans per minute, empty minutes included, oldest first', () => {
    const a = new Activity();
    a.failure('203.0.113.66', 'admin', T0);
    a.failure('203.0.113.66', 'admin', T0 + 10_000);
    a.ban(T0 + 20_000);
    a.failure('203.0.113.67', '1001', T0 + 2 * MIN);
    const s = a.series(T0 + 2 * MIN + 5000, 3);
    expect(s).toEqual([
      { minute: T0, failures: 2, bans: 1 },
      { minute: T0 + MIN, failures: 0, bans: 0 },
      { minute: T0 + 2 * MIN, failures: 1, bans: 0 },
    ]);
  });

  it('forgets a minute a day later, and ignores an event older than its slot', () => {
    const a = new Activity();
    a.failure('203.0.113.66', undefined, T0);
    a.failure('203.0.113.66', undefined, T0 + 1440 * MIN);
    expect(a.series(T0 + 1440 * MIN, 1)).toEqual([{ minute: T0 + 1440 * MIN, failures: 1, bans: 0 }]);
    a.failure('203.0.113.66', undefined, T0);
    expect(a.series(T0 + 1440 * MIN, 1440)[0]).toEqual({ minute: T0 + MIN, failures: 0, bans: 0 });
    expect(a.series(T0 + 1440 * MIN, 1).at(-1)).toEqual({ minute: T0 + 1440 * MIN, failures: 1, bans: 0 });
  });

  it('names the top sources and accounts of the last hour or day', () => {
    const a = new Activity();
    for (let i = 0; i < 5; i++) a.failure('203.0.113.66', 'admin', T0 + i);
    for (let i = 0; i < 3; i++) a.failure('203.0.113.67', '1001', T0 + 2 * 3600_000 + i);
    expect(a.top(T0 + 2 * 3600_000 + 10, 1, 10)).toEqual({ sources: [{ name: '203.0.113.67', failures: 3 }], accounts: [{ name: '1001', failures: 3 }] });
    expect(a.top(T0 + 2 * 3600_000 + 10, 24, 1).sources).toEqual([{ name: '203.0.113.66', failures: 5 }]);
  });

  it('stays bounded under a swarm of a million sources, and still names the one that hammered', () => {
    const a = new Activity();
    for (let i = 0; i < 1_000_000; i++) {
      a.failure(`198.18.${(i >> 8) & 255}.${i & 255}#${i}`, `acct${i}`, T0 + i);
      if (i % 100 === 0) a.failure('203.0.113.66', 'admin', T0 + i);
    }
    const top = a.top(T0 + 1_000_000, 1, 3);
    expect(top.sources[0]!.name).toBe('203.0.113.66');
    expect(top.accounts[0]!.name).toBe('admin');
    expect(top.sources[0]!.failures).toBeGreaterThanOrEqual(10_000);
  });
});

describe('the bans table: search, sort, page', () => {
  const log = createLogger('silent', 'stderr');
  const ledger = () => {
    const core = buildCore(parseConfig('{}', 'test'), log, { useEventTime: true });
    const ban = (target: string, since: number, minutes: number | null, note = 'brute-force') =>
      core.ledger.request({ target: p(target), time: since, reason: 'import', origin: 'import', durationMs: minutes === null ? null : minutes * MIN, note });
    ban('203.0.113.66', T0, 60);
    ban('203.0.113.7', T0 + 1000, 30, 'range');
    ban('198.51.100.0/24', T0 + 2000, null, 'seen scanning');
    ban('2001:db8:66::/64', T0 + 3000, 10);
    ban('10.0.0.1', T0 - 2 * 3600_000, 5); // ended
    return core.ledger;
  };
  const q = (o: Partial<BanQuery>): BanQuery => ({ q: '', sort: 'since', descending: true, offset: 0, limit: 50, ...o });
  const prefixes = (o: Partial<BanQuery>) => queryBans(ledger().columns(T0 + 5000), q(o)).rows.map((b) => b.prefix.text);

  it('lists the bans in force, newest first by default', () => {
    expect(prefixes({})).toEqual(['2001:db8:66::/64', '198.51.100.0/24', '203.0.113.7', '203.0.113.66']);
  });

  it('sorts by address (IPv4 before IPv6, numerically), by end (permanent last) and by reason', () => {
    expect(prefixes({ sort: 'prefix', descending: false })).toEqual(['198.51.100.0/24', '203.0.113.7', '203.0.113.66', '2001:db8:66::/64']);
    expect(prefixes({ sort: 'until', descending: false })).toEqual(['2001:db8:66::/64', '203.0.113.7', '203.0.113.66', '198.51.100.0/24']);
    expect(prefixes({ sort: 'reason', descending: false })).toEqual(['203.0.113.66', '2001:db8:66::/64', '203.0.113.7', '198.51.100.0/24']);
  });

  it('searches by address (the bans covering it), by CIDR (the bans inside it) and by words of the reason', () => {
    expect(prefixes({ q: '198.51.100.9' })).toEqual(['198.51.100.0/24']);
    expect(prefixes({ q: '203.0.113.0/24' })).toEqual(['203.0.113.7', '203.0.113.66']);
    expect(prefixes({ q: '2001:db8:66::1' })).toEqual(['2001:db8:66::/64']);
    expect(prefixes({ q: 'SCANNING' })).toEqual(['198.51.100.0/24']);
    expect(prefixes({ q: 'import' })).toHaveLength(4);
    expect(prefixes({ q: '203.0.113.' })).toEqual([]);
    expect(prefixes({ q: '999.1.1.1/8' })).toEqual([]);
  });

  it('pages from either end, the same rows as a full sort', () => {
    const all = prefixes({ sort: 'prefix', descending: false });
    for (let offset = 0; offset < 5; offset++) for (let limit = 1; limit < 5; limit++) expect(prefixes({ sort: 'prefix', descending: false, offset, limit }), `${offset}+${limit}`).toEqual(all.slice(offset, offset + limit));
    expect(queryBans(ledger().columns(T0 + 5000), q({ offset: 99 }))).toEqual({ total: 4, rows: [] });
  });

  it('selects a page far from both ends in place: the same rows as a full sort, ties and sorted input included', () => {
    const rnd = xorshift32(7);
    for (const make of [(i: number) => rnd(1000), (i: number) => i, (i: number) => 50_000 - i, () => 3]) {
      const values = Array.from({ length: 50_000 }, (_, i) => make(i));
      // Slots are indexes into values; ties broken by slot, as the table's sorts break them by address.
      const order = (a: number, b: number) => values[a]! - values[b]! || a - b;
      const sorted = Array.from({ length: values.length }, (_, i) => i).sort(order);
      for (const [start, end] of [[25_000, 25_050], [0, 50], [49_950, 50_000], [30_001, 30_002]] as const) {
        const slots = Int32Array.from({ length: values.length }, (_, i) => i);
        expect(selectRange(slots, start, end, order)).toEqual(sorted.slice(start, end));
      }
    }
  });

  it('takes the k smallest in order in one pass', () => {
    const items = Int32Array.from({ length: 1000 }, (_, i) => (i * 7919) % 1000);
    expect(smallest(items, 5, (a, b) => a - b)).toEqual([0, 1, 2, 3, 4]);
    expect(smallest(items, 0, (a, b) => a - b)).toEqual([]);
    expect(smallest(items, 2000, (a, b) => a - b)).toHaveLength(1000);
  });
});
