import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { Trouble } from '../../src/effects/bus.js';
import { createLogger } from '../../src/log.js';
import type { PrefixText } from '../../src/net/ip-prefix.js';
import { redisFeedShare, type FeedShare } from '../../src/fleet/feed-share.js';
import { feedsPart, restore } from '../../src/parts/feeds-part.js';
import { LabRedis } from '../../lab/redis.js';
import { guardHarness } from '../support/guard-harness.js';
import { prefix } from '../support/prefix.js';

// The feeds part against local servers that answer as each service documents: a plain list
// with ETag, APIBAN's pages and end marker, a CrowdSec Local API's decision stream.

type Handler = (req: http.IncomingMessage, body: string, res: http.ServerResponse) => void;
const servers: http.Server[] = [];
afterEach(() => servers.splice(0).forEach((s) => s.close()));

async function serve(handler: Handler): Promise<{ url: string; requests: Array<{ url: string; headers: http.IncomingHttpHeaders; body: string }> }> {
  const requests: Array<{ url: string; headers: http.IncomingHttpHeaders; body: string }> = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      requests.push({ url: req.url ?? '', headers: req.headers, body });
      handler(req, body, res);
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

async function until(what: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

function setup(feedsYaml: string, file?: string, share?: FeedShare) {
  const yaml = `policy: { allow: [198.51.100.0/24] }\nfeeds:\n${feedsYaml}`;
  const h = guardHarness(yaml, { file });
  const config = parseConfig(yaml, 'test');
  const kernel: Array<readonly string[]> = [];
  const troubles: Trouble[] = [];
  h.bus.on('trouble', (t) => troubles.push(t));
  const part = feedsPart(
    { log: createLogger('silent', 'stderr'), clock: h.clock, bus: h.bus, core: h.core, config: () => config },
    { store: h.store, persister: h.persister },
    { setListed: async (p: readonly PrefixText[]) => void kernel.push([...p].sort()), apibanGapMs: 0, ...(share ? { share } : {}) },
  );
  return { h, part, kernel, troubles, last: () => kernel.at(-1) ?? [] };
}

describe('feeds: a plain list', () => {
  it('drops what it lists, refuses what the allow-list or the feed\'s widest forbids, and asks again with its ETag', async () => {
    let list = '# voipbl\n203.0.113.66\n198.51.100.7\n10.0.0.0/8\n192.0.2.0/24 # scanners\nnonsense\n';
    const server = await serve((req, _b, res) => {
      if (req.headers['if-none-match'] === `"${list.length}"`) return void res.writeHead(304).end();
      res.writeHead(200, { ETag: `"${list.length}"` }).end(list);
    });
    const { part, kernel, last, h } = setup(`  - { name: voipbl, type: list, url: "${server.url}/list", interval: 1m }`);
    await part.start!();
    await until(() => kernel.length === 1);
    expect(last()).toEqual(['192.0.2.0/24', '203.0.113.66']);
    const status = (part.status!() as { feeds: Array<Record<string, unknown>> }).feeds[0]!;
    expect(status).toMatchObject({ name: 'voipbl', entries: 4, dropped: 2, refused: 2, unreadable: 1, errors: 0 });
    expect(part.listedBy(prefix('192.0.2.9'))).toEqual([{ feed: 'voipbl', entry: '192.0.2.0/24' }]);
    // Unchanged: 304, nothing pushed again.
    await h.clock.advance(60_000);
    await until(() => server.requests.length === 2);
    expect(server.requests[1]!.headers['if-none-match']).toBe(`"${list.length}"`);
    // Changed: the new list replaces the old one whole.
    list = '203.0.113.67\n';
    await h.clock.advance(60_000);
    await until(() => kernel.length === 2);
    expect(last()).toEqual(['203.0.113.67']);
    await part.stop!();
  });

  it('keeps its last good list when the feed fails, alerts once after three failures, says when it is back; the store keeps the list across a restart', async () => {
    let failing = false;
    let empty = false;
    const server = await serve((_req, _b, res) => (failing ? res.writeHead(503).end('down for maintenance') : res.writeHead(200).end(empty ? '' : '203.0.113.66\n')));
    const file = `/tmp/ag-feeds-${process.pid}-${Date.now()}.db`;
    const first = setup(`  - { name: blde, type: list, url: "${server.url}/sip.txt", interval: 1m }`, file);
    await first.part.start!();
    await until(() => first.kernel.length === 1);
    // A 200 with an empty body (a half-written file on their side) is a failure, not an unban of all.
    empty = true;
    await first.h.clock.advance(60_000);
    await until(() => server.requests.length === 2);
    await until(() => (first.part.status!() as { feeds: Array<Record<string, unknown>> }).feeds[0]!['errors'] === 1);
    expect((first.part.status!() as { feeds: Array<Record<string, unknown>> }).feeds[0]!['last_error']).toMatch(/sent an empty list/);
    expect(first.kernel).toHaveLength(1);
    empty = false;
    failing = true;
    for (let i = 0; i < 4; i++) {
      await first.h.clock.advance(60_000);
      await until(() => server.requests.length === i + 3);
    }
    await until(() => first.troubles.length === 1);
    expect(first.troubles[0]).toMatchObject({ kind: 'feed-failing', text: expect.stringMatching(/^feed blde failed 3 refreshes in a row \(HTTP 503 from .*\); its last good list \(1 entries\) is still dropped$/) });
    expect(first.kernel).toHaveLength(1);
    failing = false;
    await first.h.clock.advance(60_000);
    await until(() => first.troubles.length === 2);
    expect(first.troubles[1]).toMatchObject({ kind: 'feed-restored' });
    failing = true;
    await first.part.stop!();
    await first.h.clock.advance(1);
    first.h.store.close();

    // A restart while the feed still fails: the kept list goes into the kernel before any answer.
    const second = setup(`  - { name: blde, type: list, url: "${server.url}/sip.txt", interval: 1m }`, file);
    await second.part.start!();
    expect(second.kernel[0]).toEqual(['203.0.113.66']);
    await second.part.stop!();
  });
});

describe('feeds: APIBAN', () => {
  it('pages through from ID 100 with its key, to the end marker; the next refresh asks from the last ID; errors keep the list', async () => {
    const pages: Record<string, { ipaddress: string[]; ID: string }> = { '100': { ipaddress: ['203.0.113.1', '203.0.113.2'], ID: '200' }, '200': { ipaddress: ['203.0.113.3', 'bogus'], ID: '300' } };
    let limited = false;
    const server = await serve((req, body, res) => {
      if (req.headers.authorization !== 'Bearer KEY123') return void res.writeHead(403).end('{"ipaddress":"unauthorized","ID":"none"}');
      if (limited) return void res.writeHead(429, { 'Retry-After': '120' }).end('{"ipaddress":"rate limit exceeded","ID":"none"}');
      const page = pages[(JSON.parse(body) as { id: string }).id];
      if (!page) return void res.writeHead(400).end('{"ipaddress":["no new bans"], "ID":"none"}');
      res.writeHead(200).end(JSON.stringify(page));
    });
    const { part, kernel, last, h } = setup(`  - { name: apiban, type: apiban, url: "${server.url}/api", key: KEY123, interval: 5m }`);
    await part.start!();
    await until(() => kernel.length === 1);
    expect(last()).toEqual(['203.0.113.1', '203.0.113.2', '203.0.113.3']);
    expect(server.requests.map((r) => JSON.parse(r.body))).toEqual([{ set: 'sip', id: '100' }, { set: 'sip', id: '200' }, { set: 'sip', id: '300' }]);
    expect((part.status!() as { feeds: Array<Record<string, unknown>> }).feeds[0]).toMatchObject({ unreadable: 1, entries: 3 });
    limited = true;
    await h.clock.advance(300_000);
    await until(() => server.requests.length === 4);
    await until(() => (part.status!() as { feeds: Array<Record<string, unknown>> }).feeds[0]!['errors'] === 1);
    expect((part.status!() as { feeds: Array<Record<string, unknown>> }).feeds[0]!['last_error']).toBe('APIBAN: HTTP 429: rate limit exceeded');
    expect(kernel).toHaveLength(1);
    // Retry-After (120 s) is shorter than the interval: the interval holds.
    limited = false;
    pages['300'] = { ipaddress: ['203.0.113.4'], ID: '400' };
    await h.clock.advance(300_000);
    await until(() => kernel.length === 2);
    expect(JSON.parse(server.requests[4]!.body)).toEqual({ set: 'sip', id: '300' });
    expect(last()).toEqual(['203.0.113.1', '203.0.113.2', '203.0.113.3', '203.0.113.4']);
    // APIBAN sends no deletions: an entry ends 7 days after it was last listed (at the next
    // minute: ends are kept in minutes, and the sweep runs once a minute).
    await h.clock.advance(7 * 86_400_000 - 60_000);
    expect(last()).toEqual(['203.0.113.4']);
    await h.clock.advance(120_000);
    await until(() => last().length === 0);
    await part.stop!();
  });
});

describe('feeds: a CrowdSec Local API, as a bouncer', () => {
  it('asks for everything at startup, then for the changes, with its X-Api-Key', async () => {
    const decision = (value: string, o: Record<string, unknown> = {}) => ({ duration: '90s', id: 1, origin: 'CAPI', scenario: 'crowdsecurity/sip-bf', scope: 'Ip', type: 'ban', value, ...o });
    const answers = [
      { new: [decision('203.0.113.10'), decision('192.0.2.0/24', { scope: 'Range' }), decision('203.0.113.11', { type: 'captcha' })], deleted: null },
      { new: [decision('203.0.113.12')], deleted: [decision('203.0.113.10')] },
    ];
    const server = await serve((req, _b, res) => {
      if (req.headers['x-api-key'] !== 'bouncer-key') return void res.writeHead(403).end('{"message":"access forbidden"}');
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(answers.shift() ?? { new: null, deleted: null }));
    });
    const { part, kernel, last, h } = setup(`  - { name: lapi, type: crowdsec, url: "${server.url}", key: bouncer-key, interval: 10s }`);
    await part.start!();
    await until(() => kernel.length === 1);
    expect(last()).toEqual(['192.0.2.0/24', '203.0.113.10']);
    await h.clock.advance(10_000);
    await until(() => kernel.length === 2);
    expect(last()).toEqual(['192.0.2.0/24', '203.0.113.12']);
    expect(server.requests.map((r) => r.url)).toEqual(['/v1/decisions/stream?startup=true', '/v1/decisions/stream?startup=false']);
    // Their durations run out in the kernel too.
    await h.clock.advance(120_000);
    await until(() => last().length === 0);
    await part.stop!();
  });
});

describe('feeds in a fleet (a real redis-server)', () => {
  let redis: LabRedis | undefined;
  afterAll(async () => redis?.kill());

  it('pulls each feed once for the fleet: one node pulls, the others read its list from Redis; without Redis each pulls alone', async () => {
    redis = await LabRedis.start();
    let list = '203.0.113.66\n192.0.2.0/24\n';
    const server = await serve((_req, _b, res) => void res.writeHead(200).end(list));
    const yaml = `  - { name: voipbl, type: list, url: "${server.url}/list", interval: 1m }`;
    const fleetOf = (node: string) => parseConfig(`fleet: { redis: "${redis!.url}", node: ${node} }`, 'test').fleet!;
    const a = setup(yaml, undefined, redisFeedShare(fleetOf('pbx-a')));
    const b = setup(yaml, undefined, redisFeedShare(fleetOf('pbx-b')));
    await a.part.start!();
    await until(() => a.kernel.length === 1);
    await b.part.start!();
    await until(() => b.kernel.length === 1);
    expect(server.requests).toHaveLength(1);
    expect(b.last()).toEqual(['192.0.2.0/24', '203.0.113.66']);
    expect((b.part.status!() as { feeds: Array<Record<string, unknown>> }).feeds[0]).toMatchObject({ pulled_by: 'another node of the fleet', dropped: 2 });
    // The list changes: the holder pulls it at its next turn; the other reads the new version at its own.
    list = '203.0.113.67\n';
    await a.h.clock.advance(60_000);
    await until(() => a.kernel.length === 2);
    await b.h.clock.advance(60_000);
    await until(() => b.kernel.length === 2);
    expect(b.last()).toEqual(['203.0.113.67']);
    expect(server.requests).toHaveLength(2);
    // Redis gone: each node pulls for itself, none goes without its list.
    await redis.kill();
    list = '203.0.113.68\n';
    await b.h.clock.advance(60_000);
    await until(() => b.kernel.length === 3, 10_000);
    expect(b.last()).toEqual(['203.0.113.68']);
    expect((b.part.status!() as { feeds: Array<Record<string, unknown>> }).feeds[0]).toMatchObject({ pulled_by: 'this node' });
    await a.part.stop!();
    await b.part.stop!();
  }, 30_000);
});

describe('restore (a feed list as the store keeps it)', () => {
  it('reads what was written; an entry or a row it cannot read is left out', () => {
    const s = restore(JSON.stringify({ cursor: { etag: '"x"', bad: 1 }, entries: [['203.0.113.0/24', 0], ['203.0.113.9', 123], ['nope', 0], [1, 2], ['203.0.113.7', 'soon'], ['203.0.113.8', null]] }));
    expect([...s.entries.keys()]).toEqual(['203.0.113.0/24', '203.0.113.9']);
    expect(s.cursor).toEqual({ etag: '"x"' });
    for (const bad of [undefined, '', '{', 'null', '[]']) expect(restore(bad).entries.size).toBe(0);
  });
});
