import { execa, type ResultPromise } from 'execa';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compiled } from '../../lab/compiled.js';
import { LabNetwork } from '../../lab/netns.js';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { bouncerApiPart } from '../../src/parts/bouncer-api-part.js';
import type { Part } from '../../src/parts/part.js';
import { guardHarness } from '../support/guard-harness.js';
import { prefix } from '../support/prefix.js';
import { sleep, startSender, UdpListener } from '../support/udp.js';

// Bans out: the guard serves its bans as a CrowdSec Local API does, and Debian's real
// crowdsec-firewall-bouncer, in a namespace of its own (an edge router), enforces them.

const EDGE = '192.0.2.1';
const ATK = '203.0.113.66';
const OTHER = '203.0.113.67';
const KEY = 'edge-router-key-0123456789abcdef';

const dir = mkdtempSync(path.join(tmpdir(), 'ag-bouncer-'));
const socket = path.join(dir, 'lapi.sock');
const yaml = `bouncer_api:\n  listen: ${socket}\n  keys: [{ name: edge, key: ${KEY} }]\n`;
let h: ReturnType<typeof guardHarness>;
let part: Part;
let net: LabNetwork;
let listener: UdpListener;
const children: ResultPromise[] = [];

function ask(pathAndQuery: string, key = KEY): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath: socket, path: pathAndQuery, headers: { 'X-Api-Key': key } }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

async function delivered(from: string, ms: number): Promise<number> {
  const before = listener.count(from);
  await sleep(ms);
  return listener.count(from) - before;
}

async function until(what: () => Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await what())) {
    if (Date.now() > end) throw new Error('timed out');
    await sleep(100);
  }
}

describe('bans out, to a real CrowdSec bouncer', () => {
  beforeAll(async () => {
    h = guardHarness(yaml);
    const config = parseConfig(yaml, 'test');
    part = bouncerApiPart({ log: createLogger('silent', 'stderr'), clock: h.clock, bus: h.bus, core: h.core, config: () => config });
    await part.start!();
    net = await LabNetwork.create('agbnc', { name: 'edge', addresses: [EDGE] }, [{ name: 'atk', addresses: [ATK, OTHER] }]);
    listener = await UdpListener.start(net.ns('edge'), 5060);
    for (const from of [ATK, OTHER]) children.push(startSender(net.ns('atk'), from, EDGE, 5060, 20));
    const relay = execa('ip', ['netns', 'exec', net.ns('edge'), process.execPath, compiled('lab/tcp-to-unix.js'), '127.0.0.1', '8081', socket], { reject: false, buffer: false });
    children.push(relay);
    await new Promise<void>((r) => relay.stdout!.once('data', () => r()));
    const bouncerConfig = path.join(dir, 'bouncer.yaml');
    writeFileSync(
      bouncerConfig,
      `mode: nftables\nupdate_frequency: 1s\ndaemonize: false\nlog_mode: stdout\nlog_level: info\napi_url: http://127.0.0.1:8081/\napi_key: ${KEY}\ndisable_ipv6: false\ndeny_action: DROP\nsupported_decisions_types: [ban]\nnftables:\n  ipv4: { enabled: true, set-only: false, table: crowdsec, chain: crowdsec-chain }\n  ipv6: { enabled: true, set-only: false, table: crowdsec6, chain: crowdsec6-chain }\nprometheus: { enabled: false }\n`,
    );
    children.push(execa('ip', ['netns', 'exec', net.ns('edge'), 'crowdsec-firewall-bouncer', '-c', bouncerConfig], { reject: false, all: true }));
  }, 60_000);

  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    listener?.stop();
    await part?.stop!();
    await net?.destroy();
  });

  it('refuses a request without its key, and answers the stream and the ip query as the Local API does', async () => {
    expect((await ask('/v1/decisions/stream?startup=true', 'wrong-key-wrong-key')).status).toBe(403);
    await h.guard.ban({ cmd: 'ban', prefix: prefix('198.51.100.0/24'), for: 3_600_000 });
    const stream = JSON.parse((await ask('/v1/decisions/stream?startup=true')).body) as { new: Array<Record<string, unknown>>; deleted: null };
    expect(stream.deleted).toBeNull();
    expect(stream.new).toEqual([{ id: expect.any(Number), origin: 'asterisk-guard', type: 'ban', scope: 'Range', value: '198.51.100.0/24', duration: '1h0m0s', scenario: 'asterisk-guard/manual' }]);
    expect(JSON.parse((await ask('/v1/decisions?ip=198.51.100.9')).body)).toMatchObject([{ value: '198.51.100.0/24' }]);
    expect((await ask('/v1/decisions?ip=203.0.113.200')).body).toBe('null');
    expect((await ask('/v1/decisions?ip=not-an-ip')).status).toBe(400);
    expect((await ask('/v1/alerts')).status).toBe(404);
  });

  it("the bouncer drops a source the guard banned, and lets it through again after an unban", async () => {
    expect(await delivered(ATK, 500)).toBeGreaterThan(5);
    await h.guard.ban({ cmd: 'ban', prefix: prefix(ATK), for: 3_600_000 });
    await until(async () => (await delivered(ATK, 300)) === 0, 15_000);
    const set = await execa('ip', ['netns', 'exec', net.ns('edge'), 'nft', 'list', 'table', 'ip', 'crowdsec'], { reject: false });
    expect(set.stdout).toContain(ATK);
    expect(await delivered(OTHER, 300)).toBeGreaterThan(3);
    await h.guard.unban({ cmd: 'unban', prefix: prefix(ATK) });
    await until(async () => (await delivered(ATK, 300)) > 3, 15_000);
    expect((part.status!() as { bouncer_api: { bouncers: Record<string, { pulls: number }> } }).bouncer_api.bouncers['edge']!.pulls).toBeGreaterThan(2);
  });
});
