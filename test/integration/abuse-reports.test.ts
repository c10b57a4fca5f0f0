import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { Trouble } from '../../src/effects/bus.js';
import { createLogger } from '../../src/log.js';
import { abuseReportPart } from '../../src/parts/abuse-report-part.js';
import { event } from '../support/events.js';
import { guardHarness } from '../support/guard-harness.js';
import { prefix } from '../support/prefix.js';

// Abuse reports against a local server that answers as AbuseIPDB's APIv2 documents it: 200
// with {"data": {...}}, errors as {"errors": [{"detail", "status"}]}, 429 with Retry-After.

interface Report {
  readonly key: string | undefined;
  readonly form: Record<string, string>;
}

const servers: http.Server[] = [];
afterEach(() => servers.splice(0).forEach((s) => s.close()));

async function abuseipdb(answer: (form: Record<string, string>) => { status: number; body: unknown; headers?: Record<string, string> }) {
  const reports: Report[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const form = Object.fromEntries(new URLSearchParams(body));
      reports.push({ key: req.headers['key'] as string | undefined, form });
      const a = answer(form);
      res.writeHead(a.status, { 'Content-Type': 'application/json', ...a.headers }).end(JSON.stringify(a.body));
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v2/report`, reports };
}

const ok = (form: Record<string, string>) => ({ status: 200, body: { data: { ipAddress: form['ip'], abuseConfidenceScore: 52 } } });

async function until(what: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

function setup(url: string, more = '', file?: string) {
  const yaml = `detect: { threshold: 5 }\npolicy: { subnet: { enabled: false } }\nabuseipdb: { key: KEY42, url: "${url}"${more} }`;
  const h = guardHarness(yaml, { file });
  const config = parseConfig(yaml, 'test');
  const troubles: Trouble[] = [];
  h.bus.on('trouble', (t) => troubles.push(t));
  const part = abuseReportPart({ log: createLogger('silent', 'stderr'), clock: h.clock, bus: h.bus, core: h.core, config: () => config }, { store: h.store, persister: h.persister });
  /** Five failed authentications from `ip`, 400 ms apart: a ban. */
  const attack = (ip: string, kind: 'ChallengeResponseFailed' | 'InvalidAccountID' = 'ChallengeResponseFailed') => {
    for (let i = 0; i < 5; i++) h.core.policy.handle(event(kind, ip, h.clock.now() + i * 400));
  };
  const status = () => (part.status!() as { abuseipdb: Record<string, unknown> }).abuseipdb;
  return { h, part, troubles, attack, status };
}

describe('abuse reports to AbuseIPDB', () => {
  it("reports the guard's own bans of public addresses with its key, category 18 and a comment that names nothing of the PBX", async () => {
    const server = await abuseipdb(ok);
    const { h, part, attack, status } = setup(server.url);
    await part.start!();
    attack('203.0.113.66');
    await until(() => server.reports.length === 1);
    const r = server.reports[0]!;
    expect(r.key).toBe('KEY42');
    expect(r.form).toMatchObject({ ip: '203.0.113.66', categories: '18' });
    expect(r.form['comment']).toBe('SIP brute force against Asterisk: 5 failed authentications in 2 s (asterisk-guard)');
    expect(r.form['comment']).not.toMatch(/1001|192\.0\.2\.1|5060/);
    expect(new Date(r.form['timestamp']!).getTime()).toBe(h.clock.now());
    // An admin's ban, a range and a private address: no report.
    await h.guard.ban({ cmd: 'ban', prefix: prefix('198.51.100.9'), for: 3_600_000 });
    attack('10.1.2.3');
    await new Promise((res) => setTimeout(res, 100));
    expect(server.reports).toHaveLength(1);
    await until(() => status()['sent'] === 1);
    await part.stop!();
  });

  it('reports an address once in 15 minutes, also across a restart; keeps within the daily budget', async () => {
    const server = await abuseipdb(ok);
    const file = `/tmp/ag-abuse-${process.pid}-${Date.now()}.db`;
    const first = setup(server.url, ', daily_budget: 2', file);
    await first.part.start!();
    first.attack('203.0.113.66');
    await until(() => server.reports.length === 1);
    // Lifted and banned again 5 minutes later: not reported again.
    await first.h.guard.unban({ cmd: 'unban', prefix: prefix('203.0.113.66') });
    await first.h.clock.advance(5 * 60_000);
    first.attack('203.0.113.66');
    await new Promise((r) => setTimeout(r, 100));
    expect(server.reports).toHaveLength(1);
    await first.part.stop!();
    first.h.persister.flush();
    first.h.store.close();

    const second = setup(server.url, ', daily_budget: 2', file);
    await second.part.start!();
    await second.h.clock.advance(5 * 60_000);
    second.attack('203.0.113.66');
    second.attack('198.51.100.67');
    second.attack('192.0.2.68');
    await until(() => server.reports.length === 2);
    await new Promise((r) => setTimeout(r, 100));
    // 203.0.113.66 was reported 10 minutes ago (the store says so); the next spends the budget; the third is over it.
    expect(server.reports.map((r) => r.form['ip'])).toEqual(['203.0.113.66', '198.51.100.67']);
    expect(second.status()).toMatchObject({ sent_today: 2, over_budget: 1 });
    await second.part.stop!();
  });

  it('waits as long as a 429 Retry-After says, then sends; a refused key alerts once', async () => {
    let limited = true;
    const server = await abuseipdb((form) =>
      limited ? { status: 429, body: { errors: [{ detail: 'Daily rate limit of 1000 requests exceeded for this endpoint.', status: 429 }] }, headers: { 'Retry-After': '120' } } : ok(form),
    );
    const { h, part, attack, status } = setup(server.url);
    await part.start!();
    attack('203.0.113.66');
    await until(() => server.reports.length === 1);
    limited = false;
    await h.clock.advance(60_000);
    await new Promise((r) => setTimeout(r, 50));
    expect(server.reports).toHaveLength(1);
    await h.clock.advance(60_000);
    await until(() => server.reports.length === 2);
    await until(() => status()['sent'] === 1);
    await part.stop!();

    const refusing = await abuseipdb(() => ({ status: 401, body: { errors: [{ detail: 'Authentication failed. Your API key is either missing, incorrect, or revoked.', status: 401 }] } }));
    const bad = setup(refusing.url);
    await bad.part.start!();
    bad.attack('203.0.113.70');
    bad.attack('203.0.113.71');
    await until(() => refusing.reports.length === 2);
    expect(bad.troubles.filter((t) => t.kind === 'abuse-report-refused')).toHaveLength(1);
    expect(bad.part.checks!()[0]).toMatchObject({ status: 'fail', fix: expect.stringContaining('abuseipdb.key') });
    await bad.part.stop!();
  });
});
