import { execa } from 'execa';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { createClient } from 'redis';
import { parseConfig } from '../../src/config/load.js';
import { buildCore } from '../../src/core.js';
import { decisionBus } from '../../src/effects/bus.js';
import { DryRunDriver } from '../../src/enforce/dry-run-driver.js';
import { Enforcer } from '../../src/enforce/enforcer.js';
import { wireFleet } from '../../src/fleet/wire-fleet.js';
import { fleetCheck } from '../../src/ops/doctor.js';
import type { FleetLink } from '../../src/fleet/fleet-link.js';
import { parseIpPrefix, type IpPrefix } from '../../src/net/ip-prefix.js';
import { event } from '../support/events.js';
import { Store } from '../../src/store/store.js';
import { systemClock } from '../../src/time/clock.js';
import { LabRedis } from '../../lab/redis.js';

// Three guards sharing bans through a real redis-server (Debian's), each with its own ledger
// and enforcer (dry-run driver: the kernel side is the enforcer's, tested elsewhere).

const log = pino({ level: 'silent' });
const p = (text: string): IpPrefix => {
  const r = parseIpPrefix(text);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
};

interface Node {
  readonly name: string;
  readonly core: ReturnType<typeof buildCore>;
  readonly link: FleetLink;
  readonly stop: () => Promise<void>;
  readonly unbanEverywhere: (prefix: IpPrefix) => void;
  readonly troubles: string[];
  readonly notApplied: () => number;
  readonly store: Store;
}

let redis: LabRedis;
const nodes = new Map<string, Node>();

async function startNode(name: string, allow: readonly string[] = [], storeFile = ':memory:', linked = true, nodeLog = log, server = redis): Promise<Node> {
  const config = parseConfig(`fleet: { redis: '${server.url}', node: ${name} }\npolicy: { allow: [${allow.join(', ')}] }`, `${name}.yaml`);
  const bus = decisionBus();
  const enforcer = new Enforcer(new DryRunDriver(log), bus, log, { clock: systemClock, retryBaseMs: 10, retryMaxMs: 100, conntrackAttempts: 1 });
  const core = buildCore(config, log, { useEventTime: false, sink: enforcer });
  const troubles: string[] = [];
  bus.on('trouble', (t) => void troubles.push(t.kind));
  const store = Store.open(storeFile);
  const fleet = wireFleet(config, { ...core, store, bus, clock: systemClock, log: nodeLog });
  const node = {
    name,
    core,
    link: fleet.link,
    unbanEverywhere: fleet.unbanEverywhere,
    stop: async () => {
      await fleet.stop();
      store.close();
    },
    troubles,
    notApplied: () => fleet.notApplied,
    store,
  };
  nodes.set(name, node);
  if (linked) await until(() => fleet.link.connected && fleet.scores.ready, `${name} linked`);
  return node;
}

async function until(ok: () => boolean, what: string, ms = 3000): Promise<number> {
  const start = Date.now();
  while (!ok()) {
    if (Date.now() - start > ms) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return Date.now() - start;
}

const banned = (n: Node, prefix: string) => n.core.ledger.bannedUntil(p(prefix), Date.now()) !== undefined;
const adminBan = (n: Node, prefix: string) => n.core.ledger.request({ target: p(prefix), time: Date.now(), reason: 'manual', origin: 'cli', durationMs: 3_600_000 });

describe('fleet over Redis', () => {
  beforeAll(async () => {
    redis = await LabRedis.start();
    await startNode('pbx-a');
    await startNode('pbx-b', ['198.51.100.0/24']);
    await startNode('pbx-c');
  });

  afterAll(async () => {
    for (const n of nodes.values()) await n.stop();
    await redis?.kill();
  });

  it("applies a node's ban on every other node, with the node that decided it; an admin's unban everywhere lifts its copies, not another node's admin ban", async () => {
    const [a, b, c] = ['pbx-a', 'pbx-b', 'pbx-c'].map((n) => nodes.get(n)!);
    adminBan(b!, '203.0.113.66');
    await until(() => banned(a!, '203.0.113.66') && banned(c!, '203.0.113.66'), 'the ban on A and C', 1000);
    const onC = [...c!.core.ledger.bans(Date.now())].find((x) => x.prefix.text === '203.0.113.66');
    expect(onC).toMatchObject({ origin: 'fleet', reason: 'pbx-b: manual' });
    a!.core.ledger.lift(p('203.0.113.66'), Date.now(), 'cli');
    a!.unbanEverywhere(p('203.0.113.66'));
    await until(() => !banned(c!, '203.0.113.66'), 'the unban on C', 1000);
    // B's admin banned it there: only B lifts it (issue 24: any node holds the fleet's password).
    await until(() => b!.troubles.includes('fleet-unban-refused'), 'B refused');
    expect(banned(b!, '203.0.113.66')).toBe(true);
    b!.core.ledger.lift(p('203.0.113.66'), Date.now(), 'cli');
    b!.unbanEverywhere(p('203.0.113.66'));
  });

  it("lifts no admin's ban or import on another node's word: alerts once a refusal, says which node (issue 24)", async () => {
    const c = nodes.get('pbx-c')!;
    adminBan(c, '203.0.113.77');
    c.core.ledger.request({ target: p('203.0.113.78'), time: Date.now(), reason: 'import', origin: 'import', durationMs: 3_600_000 });
    c.core.ledger.request({ target: p('203.0.113.79'), time: Date.now(), reason: 'fleet', origin: 'fleet', durationMs: 3_600_000, note: 'pbx-a: brute-force' });
    const client = createClient({ url: redis.url });
    await client.connect();
    for (const prefix of ['203.0.113.77', '203.0.113.78', '203.0.113.79']) await client.sendCommand(['XADD', 'asterisk-guard:{fleet}:bans', '*', 'op', 'unban', 'node', 'evil', 'prefix', prefix]);
    await client.quit();
    await until(() => !banned(c, '203.0.113.79'), "the fleet's own ban lifted");
    expect(banned(c, '203.0.113.77')).toBe(true);
    expect(banned(c, '203.0.113.78')).toBe(true);
    expect(c.troubles.filter((t) => t === 'fleet-unban-refused')).toHaveLength(2);
  });

  it("never applies a fleet ban over a node's own allow-list", async () => {
    const [a, b, c] = ['pbx-a', 'pbx-b', 'pbx-c'].map((n) => nodes.get(n)!);
    adminBan(a!, '198.51.100.7');
    await until(() => banned(c!, '198.51.100.7'), 'the ban on C');
    await new Promise((r) => setTimeout(r, 100));
    expect(banned(b!, '198.51.100.7')).toBe(false);
  });

  it('logs a sample of the fleet bans it does not apply, and counts the rest (issue 24)', async () => {
    const lines: string[] = [];
    const e = await startNode('pbx-e', ['198.51.100.0/24'], ':memory:', true, pino({ level: 'info' }, { write: (l: string) => void lines.push(l) }));
    const client = createClient({ url: redis.url });
    await client.connect();
    for (let i = 1; i <= 60; i++) await client.sendCommand(['XADD', 'asterisk-guard:{fleet}:bans', '*', 'op', 'ban', 'node', 'noisy', 'prefix', `198.51.100.${i}`, 'until', 'permanent', 'reason', 'x']);
    await client.quit();
    await until(() => e.notApplied() >= 60, 'all 60 counted');
    expect(lines.filter((l) => l.includes('not applied here'))).toHaveLength(20);
    await e.stop();
    nodes.delete('pbx-e');
  });

  it('gives a node that was away every ban decided meanwhile, within a second of its return', async () => {
    const a = nodes.get('pbx-a')!;
    await nodes.get('pbx-c')!.stop();
    nodes.delete('pbx-c');
    for (let i = 1; i <= 100; i++) adminBan(a, `198.18.1.${i}`);
    await until(() => a.link.pending === 0 && a.link.stats.published >= 100, 'A published');
    const c = await startNode('pbx-c');
    const took = await until(() => Array.from({ length: 100 }, (_, i) => `198.18.1.${i + 1}`).every((x) => banned(c, x)), 'all 100 on C', 1000);
    expect(took).toBeLessThan(1000);
  });

  it('counts failures fleet-wide: guesses spread round robin over three PBXs are banned on all three after at most threshold + 2 in total', async () => {
    const all = ['pbx-a', 'pbx-b', 'pbx-c'].map((n) => nodes.get(n)!);
    const attacker = '203.0.113.200';
    let guesses = 0;
    // Each PBX sees one guess in turn; a guess reaches a PBX only while it has not banned.
    for (let round = 0; round < 10 && !all.every((n) => banned(n, attacker)); round++) {
      for (const n of all) {
        if (banned(n, attacker)) continue;
        guesses++;
        n.core.policy.handle(event('ChallengeResponseFailed', attacker, Date.now()));
        // Guesses a few ms apart, as a scanner's over the network: the shared step answers meanwhile.
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    await until(() => all.every((n) => banned(n, attacker)), 'banned on all three', 1000);
    expect(guesses).toBeLessThanOrEqual(5 + 2);
  });

  it('refuses and counts hostile entries in Redis: bad prefixes, 0.0.0.0/0, nft syntax, 10 MB values', async () => {
    const c = nodes.get('pbx-c')!;
    const refusedBefore = c.link.stats.refused;
    const client = createClient({ url: redis.url });
    await client.connect();
    const entry = (prefix: string, reason = 'x') => ['XADD', 'asterisk-guard:{fleet}:bans', '*', 'op', 'ban', 'node', 'evil', 'prefix', prefix, 'until', 'permanent', 'reason', reason];
    for (const e of [entry('0.0.0.0/0'), entry('203.0.113.9 } ; flush ruleset'), entry('not-an-address'), entry('203.0.113.10', 'x'.repeat(10 * 1024 * 1024))]) await client.sendCommand(e);
    await client.sendCommand(['XADD', 'asterisk-guard:{fleet}:bans', '*', 'op', 'ban', 'node', 'fine', 'prefix', '203.0.113.11', 'until', 'permanent', 'reason', 'x']);
    await client.quit();
    await until(() => banned(c, '203.0.113.11'), 'the acceptable entry after them');
    expect(c.link.stats.refused - refusedBefore).toBe(4);
    expect(banned(c, '203.0.113.10')).toBe(false);
    expect([...c.core.ledger.bans(Date.now())].some((x) => x.prefix.length < 16)).toBe(false);
  });

  it('goes on banning alone while Redis is down, says so, and shares what it decided once Redis is back', async () => {
    const [a, b] = ['pbx-a', 'pbx-b'].map((n) => nodes.get(n)!);
    await redis.kill();
    await until(() => !a!.link.connected, 'A noticed');
    for (let i = 1; i <= 5; i++) adminBan(a!, `198.18.2.${i}`);
    expect(banned(a!, '198.18.2.1')).toBe(true);
    // Published once in the kernel (the dry-run driver's commit is asynchronous too).
    await until(() => a!.link.pending === 5, 'five decisions kept in the outbox');
    await redis.up();
    await until(() => Array.from({ length: 5 }, (_, i) => `198.18.2.${i + 1}`).every((x) => banned(b!, x)), 'all 5 on B', 5000);
    expect(a!.link.pending).toBe(0);
    // The writer may publish the outbox before the reader says the link is back (found in CI).
    await until(() => a!.troubles.length === 2, 'the link said back');
    expect(a!.troubles).toEqual(['fleet-lost', 'fleet-restored']);
  });

  it('keeps what it decided while Redis was down in its store: a restart meanwhile loses none', async () => {
    const b = nodes.get('pbx-b')!;
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'ag-fleet-')), 'state.db');
    const d = await startNode('pbx-d', [], file);
    await redis.kill();
    await until(() => !d.link.connected, 'D noticed');
    for (let i = 1; i <= 3; i++) adminBan(d, `198.18.3.${i}`);
    await until(() => d.link.pending === 3, 'three decisions kept');
    await d.stop();
    const again = await startNode('pbx-d', [], file, false);
    expect(again.link.pending).toBe(3);
    await redis.up();
    await until(() => [1, 2, 3].every((i) => banned(b, `198.18.3.${i}`)), 'all 3 on B', 5000);
    await until(() => again.link.pending === 0, 'the outbox emptied');
  });

  it('doctor: says whether Redis answers this node and lets its user use the fleet\'s keys, and what to fix', async () => {
    const check = (url: string) => fleetCheck(parseConfig(`fleet: { redis: '${url}', node: pbx-a }`, 'x'));
    expect(await check(redis.url)).toMatchObject([{ check: 'fleet', status: 'ok' }]);
    const wrong = await check(redis.url.replace('lab-fleet-password', 'wrong'));
    expect(wrong).toMatchObject([{ check: 'fleet', status: 'fail', fix: expect.stringMatching(/fleet\.redis/) }]);
    expect(wrong[0]!.detail).not.toContain('wrong');
    const admin = createClient({ url: redis.url });
    await admin.connect();
    await admin.sendCommand(['ACL', 'SETUSER', 'narrow', 'on', '>pw', '~other:*', '+@all']);
    await admin.quit();
    expect(await check(`redis://narrow:pw@127.0.0.1:${redis.port}`)).toMatchObject([{ check: 'fleet', status: 'fail', detail: expect.stringMatching(/NOPERM|permission/i) }]);
    // The link reads and writes through Lua scripts: an ACL without @scripting fails here, not at the first ban.
    const again = createClient({ url: redis.url });
    await again.connect();
    await again.sendCommand(['ACL', 'SETUSER', 'noscript', 'on', '>pw', '~asterisk-guard:*', '+@all', '-@scripting']);
    await again.quit();
    expect(await check(`redis://noscript:pw@127.0.0.1:${redis.port}`)).toMatchObject([{ check: 'fleet', status: 'fail', detail: expect.stringMatching(/NOPERM|permission/i) }]);
  });
});

describe('fleet over Redis, as someone holding its password would play it (issue 24)', () => {
  let hostile: LabRedis;
  let admin: ReturnType<typeof createClient>;
  const STREAM = 'asterisk-guard:{fleet}:bans';
  const started: Node[] = [];
  const pair = async (tag: string) => {
    const a = await startNode(`${tag}-a`, [], ':memory:', true, log, hostile);
    const b = await startNode(`${tag}-b`, [], ':memory:', true, log, hostile);
    started.push(a, b);
    return [a, b] as const;
  };
  const entriesFor = async (prefix: string) => ((await admin.sendCommand(['XRANGE', STREAM, '-', '+'])) as Array<[string, string[]]>).filter(([, f]) => f.includes(prefix)).length;

  beforeAll(async () => {
    hostile = await LabRedis.start();
    admin = createClient({ url: hostile.url });
    await admin.connect();
  });
  afterAll(async () => {
    for (const n of started) await n.stop();
    await admin?.quit().catch(() => {});
    await hostile?.kill();
  });

  it('a made-up id far ahead, then the stream deleted: the next ban still reaches every node, and the admins hear of it', async () => {
    const [a, b] = await pair('ahead');
    await admin.sendCommand(['XADD', STREAM, '99999999999999-0', 'op', 'ban', 'node', 'evil', 'prefix', '203.0.113.90', 'until', 'permanent', 'reason', 'x']);
    await until(() => banned(b, '203.0.113.90'), 'the made-up entry read');
    await admin.sendCommand(['DEL', STREAM]);
    adminBan(a, '203.0.113.91');
    await until(() => banned(b, '203.0.113.91'), 'the ban after the DEL on B');
    expect(b.troubles).toContain('fleet-tampered');
  });

  it('the last possible id: every node repairs the stream once and goes on publishing, without the link flapping', async () => {
    const [a, b] = await pair('last');
    await admin.sendCommand(['XADD', STREAM, '18446744073709551615-18446744073709551615', 'op', 'ban', 'node', 'evil', 'prefix', '203.0.113.92', 'until', 'permanent', 'reason', 'x']);
    await until(() => banned(b, '203.0.113.92'), 'the made-up entry read');
    adminBan(a, '203.0.113.93');
    await until(() => banned(b, '203.0.113.93'), "A's ban on B");
    await until(() => a.link.pending === 0, "A's outbox empty");
    await new Promise((r) => setTimeout(r, 1500));
    for (const n of [a, b]) expect(n.troubles.filter((t) => t === 'fleet-lost')).toEqual([]);
    expect(a.troubles.filter((t) => t === 'fleet-tampered')).toHaveLength(1);
  });

  it('a fleet key of the wrong type: the node replaces it and publishes each ban once, not again and again', async () => {
    const [a, b] = await pair('type');
    await admin.sendCommand(['SET', 'asterisk-guard:{fleet}:expiry', 'x']);
    adminBan(a, '203.0.113.94');
    await until(() => banned(b, '203.0.113.94'), 'the ban on B');
    await new Promise((r) => setTimeout(r, 1000));
    expect(await entriesFor('203.0.113.94')).toBe(1);
    expect(a.troubles).toContain('fleet-tampered');
    expect(await admin.sendCommand(['TYPE', 'asterisk-guard:{fleet}:expiry'])).toBe('zset');
  });

  it('a 32 MB value never leaves Redis: refused there, the link stays up, the next entry applies', async () => {
    const [, b] = await pair('huge');
    const sent = async () => Number(/total_net_output_bytes:(\d+)/.exec((await admin.sendCommand(['INFO', 'stats'])) as string)![1]);
    const before = await sent();
    const refused = b.link.stats.refused;
    await admin.sendCommand(['XADD', STREAM, '*', 'op', 'ban', 'node', 'evil', 'prefix', '203.0.113.95', 'until', 'permanent', 'reason', 'x'.repeat(32 * 1024 * 1024)]);
    await admin.sendCommand(['XADD', STREAM, '*', 'op', 'ban', 'node', 'fine', 'prefix', '203.0.113.96', 'until', 'permanent', 'reason', 'x']);
    await until(() => banned(b, '203.0.113.96'), 'the entry after it');
    expect(b.link.stats.refused - refused).toBe(1);
    expect(b.link.connected).toBe(true);
    // Eight nodes read this stream: 32 MB sent to any of them would show here. What a doorbell's
    // socket took in before it saw the length and closed (about half a megabyte each) is all.
    expect((await sent()) - before).toBeLessThan(16 * 1024 * 1024);
  });

  it('a stalled Redis (SIGSTOP) is noticed and alerted; a ban decided meanwhile waits in the store and is shared once Redis answers', async () => {
    const [a, b] = await pair('stall');
    process.kill(hostile.pid, 'SIGSTOP');
    try {
      await until(() => !a.link.connected, 'A noticed', 6000);
      expect(a.troubles).toContain('fleet-lost');
      adminBan(a, '203.0.113.97');
      await until(() => a.store.outboxSize === 1, 'the ban kept in the store');
    } finally {
      process.kill(hostile.pid, 'SIGCONT');
    }
    await until(() => banned(b, '203.0.113.97'), 'the ban on B once Redis answers', 8000);
    await until(() => a.link.connected && a.link.pending === 0, 'A linked again, outbox empty', 5000);
  });

  it('a node whose disk is full still shares its bans: the store refuses the outbox, Redis gets them from memory (found by the soak)', async () => {
    const disk = mkdtempSync(path.join(tmpdir(), 'ag-full-'));
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', disk]);
    try {
      const [, b] = await pair('disk');
      const full = await startNode('full-disk', [], path.join(disk, 'state.db'), true, log, hostile);
      // Every free block taken, as a runaway log would.
      await execa('dd', ['if=/dev/zero', `of=${path.join(disk, 'filler')}`, 'bs=4k'], { reject: false });
      for (let i = 0; i < 20; i++) adminBan(full, `203.0.113.${200 + i}`);
      await until(() => Array.from({ length: 20 }, (_, i) => `203.0.113.${200 + i}`).every((x) => banned(b, x)), 'all 20 on B', 5000);
      // Room again: what is decided next goes through the store's outbox as before.
      await execa('rm', ['-f', path.join(disk, 'filler')]);
      adminBan(full, '203.0.113.230');
      await until(() => banned(b, '203.0.113.230'), 'the next one on B', 5000);
      await full.stop();
      nodes.delete('full-disk');
    } finally {
      await execa('umount', [disk], { reject: false });
    }
  });

  it('two running nodes with one name: both say so', async () => {
    const one = await startNode('twin', [], ':memory:', true, log, hostile);
    const two = await startNode('twin', [], ':memory:', true, log, hostile);
    started.push(one, two);
    await until(() => one.troubles.includes('fleet-twin') && two.troubles.includes('fleet-twin'), 'both warned', 5000);
  });

  it('a restarted node is not its own twin', async () => {
    const first = await startNode('again', [], ':memory:', true, log, hostile);
    await first.stop();
    const second = await startNode('again', [], ':memory:', true, log, hostile);
    started.push(second);
    await new Promise((r) => setTimeout(r, 2500));
    expect(second.troubles).not.toContain('fleet-twin');
  });
});

describe('fleet over Redis with TLS (rediss://)', () => {
  let tlsRedis: LabRedis;
  beforeAll(async () => {
    tlsRedis = await LabRedis.start({ tls: true });
  });
  afterAll(async () => {
    await tlsRedis?.kill();
  });

  it('links with the CA that signed Redis\'s certificate, and refuses a certificate it cannot verify', async () => {
    const config = (ca?: string) => parseConfig(`fleet: { redis: '${tlsRedis.url}', node: pbx-t${ca ? `, ca: '${ca}'` : ''} }`, 'x');
    expect(await fleetCheck(config(tlsRedis.ca))).toMatchObject([{ check: 'fleet', status: 'ok' }]);
    expect(await fleetCheck(config())).toMatchObject([{ check: 'fleet', status: 'fail', detail: expect.stringMatching(/self.signed|certificate/i) }]);
    expect(await fleetCheck(config('/nonexistent/ca.pem'))).toMatchObject([{ check: 'fleet', status: 'fail', detail: expect.stringMatching(/fleet\.ca: cannot read \/nonexistent\/ca\.pem/) }]);
    const c = parseConfig(`fleet: { redis: '${tlsRedis.url}', node: pbx-t, ca: '${tlsRedis.ca}' }`, 'x');
    const fleet = wireFleet(c, { ...buildCore(c, log, { useEventTime: false }), store: Store.open(':memory:'), bus: decisionBus(), clock: systemClock, log });
    try {
      await until(() => fleet.link.connected && fleet.scores.ready, 'linked over TLS');
    } finally {
      await fleet.stop();
    }
  });
});

