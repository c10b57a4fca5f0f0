import { execa, type ResultPromise } from 'execa';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { netnsRunner } from '../../src/enforce/command-runner.js';
import { NftablesDriver } from '../../src/enforce/nftables-driver.js';
import { TableWatch } from '../../src/enforce/table-watch.js';
import { systemClock } from '../../src/time/clock.js';
import { pino } from 'pino';
import { LabNetwork } from '../../lab/netns.js';
import { prefix } from '../support/prefix.js';
import { sleep, startSender, UdpListener } from '../support/udp.js';

// The driver against the real kernel, in namespaces this test makes and always removes.

const PBX4 = '192.0.2.1';
const PBX6 = '2001:db8::1';
const ATK = '203.0.113.66';
const ATK2 = '203.0.113.67';
const PHONE = '198.51.100.10';
const ATK6 = '2001:db8:66::66';

// Someone else's firewall, as in the seed story: established flows accepted before anything else.
const FOREIGN_TABLE = `table inet lab_filter {
  chain input {
    type filter hook input priority 0; policy drop;
    ct state established,related accept
    udp dport 5060 accept
    meta l4proto ipv6-icmp accept
  }
}
`;

let net: LabNetwork;
let pbx: string;
let listener: UdpListener;
const senders: ResultPromise[] = [];
const run = (args: string[], input?: string) => execa('ip', ['netns', 'exec', pbx, ...args], { input: input ?? '', reject: false });

async function delivered(from: string, ms: number): Promise<number> {
  const before = listener.count(from);
  await sleep(ms);
  return listener.count(from) - before;
}

describe('nftables driver in a network namespace', () => {
  let driver: NftablesDriver;

  beforeAll(async () => {
    net = await LabNetwork.create('agdrv', { name: 'pbx', addresses: [PBX4, PBX6] }, [
      { name: 'atk', addresses: [ATK, ATK2, ATK6] },
      { name: 'phone', addresses: [PHONE] },
    ]);
    pbx = net.ns('pbx');
    const applied = await run(['nft', '-f', '-'], FOREIGN_TABLE);
    expect(applied.stderr).toBe('');
    listener = await UdpListener.start(pbx, 5060);
    for (const [ns, from, to] of [
      ['atk', ATK, PBX4],
      ['atk', ATK2, PBX4],
      ['atk', ATK6, PBX6],
      ['phone', PHONE, PBX4],
    ] as const) {
      senders.push(startSender(net.ns(ns), from, to, 5060, 20));
    }
    driver = new NftablesDriver(netnsRunner(pbx), { table: 'asterisk_guard', priority: -310 });
    await driver.init();
    await sleep(500);
  });

  afterAll(async () => {
    for (const s of senders) s.kill('SIGKILL');
    listener?.stop();
    await net?.destroy();
  });

  it('lets everyone through before any ban, each as one tracked flow', async () => {
    for (const src of [ATK, ATK2, ATK6, PHONE]) expect(await delivered(src, 300), src).toBeGreaterThan(5);
    const tracked = await run(['conntrack', '-L', '-s', ATK]);
    expect(tracked.stdout).toContain(`src=${ATK}`);
  });

  it('drops an established flow the other table accepts, and deletes its conntrack entry', async () => {
    await driver.ban([{ prefix: prefix(ATK), until: Date.now() + 60_000 }], Date.now());
    await driver.flushConnections(prefix(ATK), 'from');
    const tracked = await run(['conntrack', '-L', '-s', ATK]);
    expect(tracked.stdout).not.toContain(`src=${ATK}`);
    await sleep(100);
    expect(await delivered(ATK, 500)).toBe(0);
    expect(await delivered(ATK2, 300)).toBeGreaterThan(5);
    expect(await delivered(PHONE, 300)).toBeGreaterThan(5);
    const again = await run(['conntrack', '-L', '-s', ATK]);
    expect(again.stdout).not.toContain(`src=${ATK}`);
  });

  it('deletes the flows the PBX started towards a banned source too, and those of a banned subnet', async () => {
    for (const dst of ['203.0.113.77', '198.51.100.77']) {
      const inserted = await run(['conntrack', '-I', '-p', 'udp', '-s', PBX4, '-d', dst, '--sport', '5060', '--dport', '5062', '-t', '120']);
      expect(inserted.exitCode, inserted.stderr).toBe(0);
    }
    await driver.flushConnections(prefix('203.0.113.77'), 'to');
    await driver.flushConnections(prefix('198.51.100.0/24'), 'to');
    const left = await run(['conntrack', '-L', '-s', PBX4]);
    expect(left.stdout).not.toContain('dst=203.0.113.77');
    expect(left.stdout).not.toContain('dst=198.51.100.77');
  });

  it('treats "nothing to delete" from conntrack as success', async () => {
    await expect(driver.flushConnections(prefix('203.0.113.200'), 'from')).resolves.toBeUndefined();
  });

  it('bans a CIDR beside the single address inside it', async () => {
    await driver.ban([{ prefix: prefix('203.0.113.0/24'), until: Date.now() + 60_000 }], Date.now());
    await driver.flushConnections(prefix('203.0.113.0/24'), 'from');
    await sleep(100);
    expect(await delivered(ATK2, 500)).toBe(0);
    expect(await delivered(PHONE, 300)).toBeGreaterThan(5);
    const list = (await driver.list(Date.now())).map((b) => b.prefix.text);
    expect(list.sort()).toEqual(['203.0.113.0/24', ATK]);
  });

  it('keeps an allowed address reachable inside a banned subnet', async () => {
    await driver.setAllowed([prefix(ATK2)]);
    await sleep(100);
    expect(await delivered(ATK2, 500)).toBeGreaterThan(5);
    expect(await delivered(ATK, 300)).toBe(0);
    await driver.setAllowed([]);
    await sleep(100);
    expect(await delivered(ATK2, 300)).toBe(0);
  });

  it('reconciles the sets to exactly a list of bans in one go: foreign elements out, expired ones not in', async () => {
    await run(['nft', 'add', 'element', 'inet', 'asterisk_guard', 'banned_v4_32', '{ 198.51.100.99 }']);
    const now = Date.now();
    await driver.reconcile(
      [
        { prefix: prefix('203.0.113.0/24'), until: now + 60_000 },
        { prefix: prefix(ATK), until: now + 60_000 },
        { prefix: prefix('198.51.100.50'), until: now - 1 },
        { prefix: prefix('2001:db8:66::/64'), until: null },
      ],
      now,
    );
    const fresh = new NftablesDriver(netnsRunner(pbx), { table: 'asterisk_guard', priority: -310 });
    expect((await fresh.list(Date.now())).map((b) => [b.prefix.text, b.until === null]).sort()).toEqual([
      ['2001:db8:66::/64', true],
      ['203.0.113.0/24', false],
      [ATK, false],
    ]);
    fresh.close();
  });

  it('keeps a narrower ban in force when the wider one over it expires or is lifted', async () => {
    await driver.unban([prefix('203.0.113.0/24')]);
    const now = Date.now();
    await driver.ban([{ prefix: prefix('203.0.113.0/24'), until: now + 1500 }], now);
    await driver.ban([{ prefix: prefix(ATK), until: now + 60_000 }], now);
    expect((await driver.list(Date.now())).map((b) => b.prefix.text)).toContain('203.0.113.0/24');
    await sleep(2500);
    const after = (await driver.list(Date.now())).map((b) => b.prefix.text);
    expect(after).toContain(ATK);
    expect(after).not.toContain('203.0.113.0/24');
    expect(await delivered(ATK, 400)).toBe(0);
    expect(await delivered(ATK2, 400)).toBeGreaterThan(5);
    await driver.ban([{ prefix: prefix('203.0.113.0/24'), until: null }], Date.now());
    await driver.unban([prefix('203.0.113.0/24')]);
    expect((await driver.list(Date.now())).map((b) => b.prefix.text)).toContain(ATK);
  });

  it('bans an IPv6 /64', async () => {
    await driver.ban([{ prefix: prefix('2001:db8:66::/64'), until: Date.now() + 60_000 }], Date.now());
    await driver.flushConnections(prefix('2001:db8:66::/64'), 'from');
    await sleep(100);
    expect(await delivered(ATK6, 500)).toBe(0);
  });

  it('replaces an element the ledger says may be there, present or not, with its new timeout', async () => {
    const now = Date.now();
    await driver.ban([{ prefix: prefix(ATK), until: now + 30_000 }], now);
    await driver.ban([{ prefix: prefix(ATK), until: now + 600_000, replaces: true }], now);
    const held = (await driver.list(Date.now())).find((b) => b.prefix.text === ATK)!;
    expect(held.until! - now).toBeGreaterThan(590_000);
    // Gone already (it timed out, or someone deleted it): the replacement still goes in.
    await run(['nft', 'delete', 'element', 'inet', 'asterisk_guard', 'banned_v4_32', `{ ${ATK} }`]);
    await driver.ban([{ prefix: prefix(ATK), until: now + 900_000, replaces: true }], now);
    expect((await driver.list(Date.now())).find((b) => b.prefix.text === ATK)!.until! - now).toBeGreaterThan(890_000);
    // An unban of what is not there is no error either, nor of a length never banned (no set).
    await driver.unban([prefix('198.51.100.250'), prefix('198.51.96.0/20')]);
  });

  it('lets traffic through again when a ban expires in the kernel', async () => {
    await driver.unban([prefix('203.0.113.0/24')]);
    await driver.ban([{ prefix: prefix(ATK2), until: Date.now() + 1500 }], Date.now());
    await driver.flushConnections(prefix(ATK2), 'from');
    await sleep(100);
    expect(await delivered(ATK2, 400)).toBe(0);
    await sleep(1500);
    expect(await delivered(ATK2, 500)).toBeGreaterThan(5);
  });

  it('recovers when someone removed an element behind its back', async () => {
    await driver.ban([{ prefix: prefix(ATK), until: Date.now() + 60_000 }], Date.now());
    await run(['nft', 'delete', 'element', 'inet', 'asterisk_guard', 'banned_v4_32', `{ ${ATK} }`]);
    // The ledger believes it is there and asks for a replacement: its absence must not fail it.
    await driver.ban([{ prefix: prefix(ATK), until: Date.now() + 1_200_000, replaces: true }], Date.now());
    await sleep(100);
    expect(await delivered(ATK, 500)).toBe(0);
  });

  it('adds the set and drop rule of a new prefix length with its first ban, once, across restarts', async () => {
    await driver.ban([{ prefix: prefix('198.51.100.0/22'), until: Date.now() + 60_000 }], Date.now());
    await driver.flushConnections(prefix('198.51.100.0/22'), 'from');
    await sleep(100);
    expect(await delivered(PHONE, 500)).toBe(0);
    const restarted = new NftablesDriver(netnsRunner(pbx), { table: 'asterisk_guard', priority: -310 });
    await restarted.init();
    await restarted.ban([{ prefix: prefix('198.51.100.0/22'), until: Date.now() + 120_000 }], Date.now());
    const chain = await run(['nft', 'list', 'chain', 'inet', 'asterisk_guard', 'prerouting']);
    expect(chain.stdout.match(/ip saddr & 255\.255\.252\.0 == @banned_v4_22 counter packets \d+ bytes \d+ drop/g)).toHaveLength(1);
    await restarted.unban([prefix('198.51.100.0/22')]);
    restarted.close();
    await sleep(100);
    expect(await delivered(PHONE, 500)).toBeGreaterThan(5);
  });

  it('drops the sets of the interval layout of 0.1 at start, with their rules', async () => {
    await run(['nft', '-f', '-'], 'add set inet asterisk_guard banned_v4 { type ipv4_addr; flags interval, timeout; }\nadd rule inet asterisk_guard prerouting ip saddr @banned_v4 counter drop\n');
    await driver.init();
    const table = await run(['nft', 'list', 'table', 'inet', 'asterisk_guard']);
    expect(table.stdout).not.toMatch(/banned_v4\b(?!_)/);
    expect(table.stdout).toContain('banned_v4_32');
  });

  it('never touches tables it did not create, and removes only its own', async () => {
    const before = await run(['nft', 'list', 'table', 'inet', 'lab_filter']);
    await driver.init();
    await driver.destroy();
    const after = await run(['nft', 'list', 'table', 'inet', 'lab_filter']);
    expect(after.stdout).toBe(before.stdout);
    const ours = await run(['nft', 'list', 'table', 'inet', 'asterisk_guard']);
    expect(ours.exitCode).not.toBe(0);
  });

  it('notices within a second that something else removed or emptied its table, and rebuilds it with every ban', async () => {
    const watched = new NftablesDriver(netnsRunner(pbx), { table: 'asterisk_guard', priority: -310 });
    await watched.init();
    const bans = [{ prefix: prefix(ATK), until: Date.now() + 60_000 }, { prefix: prefix('203.0.113.128/25'), until: null }];
    await watched.rebuild(bans, [prefix(PHONE)], Date.now());
    await sleep(100);
    expect(await delivered(ATK, 400)).toBe(0);
    const repaired: Array<{ what: string; ms: number }> = [];
    let flushedAt = 0;
    const watch = new TableWatch(
      {
        runner: netnsRunner(pbx),
        table: 'asterisk_guard',
        clock: systemClock,
        checkIntervalMs: 60_000,
        inspect: () => watched.inspect(),
        onTampered: async (what) => {
          await watched.rebuild(bans, [prefix(PHONE)], Date.now());
          await watched.flushConnections(prefix(ATK), 'from');
          repaired.push({ what, ms: performance.now() - flushedAt });
        },
      },
      pino({ level: 'silent' }),
    );
    watch.start();
    try {
      await sleep(300);
      // Our own changes (init flushes our chain) are not tampering.
      await watched.init();
      await sleep(300);
      expect(repaired).toEqual([]);
      for (const [tamper, what] of [
        [['nft', 'flush', 'ruleset'], /table inet asterisk_guard is gone/],
        [['nft', 'flush', 'chain', 'inet', 'asterisk_guard', 'prerouting'], /rules of table inet asterisk_guard are gone/],
      ] as const) {
        flushedAt = performance.now();
        expect((await run([...tamper])).exitCode).toBe(0);
        for (let i = 0; i < 100 && repaired.length === 0; i++) await sleep(10);
        const r = repaired.shift()!;
        expect(r.what).toMatch(what);
        expect(r.ms).toBeLessThan(1000);
        await sleep(100);
        expect(await delivered(ATK, 400), tamper.join(' ')).toBe(0);
        expect(await delivered(PHONE, 300)).toBeGreaterThan(3);
        expect((await watched.list(Date.now())).map((b) => b.prefix.text).sort()).toEqual(['203.0.113.128/25', ATK]);
      }
      expect(watch.repairs).toBe(2);
      expect(watch.last?.missing).toBeUndefined();
    } finally {
      watch.stop();
      await watched.destroy();
    }
  });

  it('drops what the feeds list in sets of its own, replaces the list in one go, and puts it back in a rebuild', async () => {
    const feeds = new NftablesDriver(netnsRunner(pbx), { table: 'ag_feeds', priority: -310 });
    await feeds.init();
    try {
      const listedSets = async () => String((await run(['nft', 'list', 'table', 'inet', 'ag_feeds'])).stdout);
      const text = (t: string) => prefix(t).text;
      await feeds.setListed([text('198.51.100.0/24'), text('203.0.113.250'), text('2001:db8:77::/48'), text('198.51.100.0/24')]);
      await sleep(100);
      expect(await delivered(PHONE, 400)).toBe(0);
      const listed = await listedSets();
      expect(listed).toMatch(/set listed_v4_24 \{[^}]*elements = \{ 198\.51\.100\.0 \}/s);
      expect(listed).toMatch(/set listed_v6_48 \{[^}]*elements = \{ 2001:db8:77:: \}/s);
      expect(await feeds.inspect()).toBeUndefined();
      // A refresh with one entry changed: only the difference, the rest untouched.
      await feeds.setListed([text('198.51.100.0/24'), text('203.0.113.252'), text('2001:db8:77::/48')]);
      expect(await listedSets()).toMatch(/set listed_v4_32 \{[^}]*elements = \{ 203\.0\.113\.252 \}/s);
      expect(await delivered(PHONE, 300)).toBe(0);
      // An element someone deleted by hand: the delta that deletes it fails, the whole list goes in instead.
      await run(['nft', 'delete', 'element', 'inet', 'ag_feeds', 'listed_v4_32', '{ 203.0.113.252 }']);
      await feeds.setListed([text('198.51.100.0/24'), text('203.0.113.253'), text('2001:db8:77::/48')]);
      expect(await listedSets()).toMatch(/set listed_v4_32 \{[^}]*elements = \{ 203\.0\.113\.253 \}/s);
      // A refresh: the new list whole, the old one gone, in one transaction.
      await feeds.setListed([text('203.0.113.251')]);
      await sleep(100);
      expect(await delivered(PHONE, 300)).toBeGreaterThan(3);
      expect(await listedSets()).not.toContain('198.51.100.0');
      // Someone flushes our chain: inspect counts the feed sets' rules, and a rebuild restores the entries.
      await run(['nft', 'flush', 'chain', 'inet', 'ag_feeds', 'prerouting']);
      expect(await feeds.inspect()).toMatch(/rules of table inet ag_feeds are gone/);
      await feeds.rebuild([], [], Date.now(), [text('198.51.100.0/24')]);
      await sleep(100);
      expect(await feeds.inspect()).toBeUndefined();
      expect(await delivered(PHONE, 400)).toBe(0);
      // A restarted daemon finds the feed sets and keeps their rules.
      const again = new NftablesDriver(netnsRunner(pbx), { table: 'ag_feeds', priority: -310 });
      await again.init();
      expect(await again.inspect()).toBeUndefined();
      again.close();
    } finally {
      await feeds.destroy();
    }
    await sleep(100);
    expect(await delivered(PHONE, 300)).toBeGreaterThan(3);
  });

  it('leaves no nft monitor behind when the daemon is killed with SIGKILL', async () => {
    const script = path.join(mkdtempSync(path.join(tmpdir(), 'ag-watch-')), 'watch.mjs');
    const dist = new URL('../../dist/src/', import.meta.url).href;
    writeFileSync(
      script,
      `import { TableWatch } from '${dist}enforce/table-watch.js';
import { netnsRunner } from '${dist}enforce/command-runner.js';
import { systemClock } from '${dist}time/clock.js';
const log = { warn() {}, info() {}, error() {} };
new TableWatch({ runner: netnsRunner(${JSON.stringify(pbx)}), table: 'asterisk_guard', clock: systemClock, checkIntervalMs: 60000, inspect: async () => undefined, onTampered: async () => {} }, log).start();
console.log('watching');
setInterval(() => {}, 1000);
`,
    );
    const monitors = async () => {
      const pids = String((await execa('ip', ['netns', 'pids', pbx])).stdout).split('\n').filter(Boolean);
      return pids.filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('nft\0monitor');
        } catch {
          return false;
        }
      }).length;
    };
    const daemon = execa(process.execPath, [script], { reject: false });
    await new Promise<void>((resolve) => daemon.stdout!.once('data', () => resolve()));
    for (let i = 0; i < 50 && (await monitors()) === 0; i++) await sleep(20);
    expect(await monitors()).toBe(1);
    daemon.kill('SIGKILL');
    await daemon;
    for (let i = 0; i < 50 && (await monitors()) > 0; i++) await sleep(20);
    expect(await monitors()).toBe(0);
  });

  it('names the command and its stderr when nft fails', async () => {
    const broken = new NftablesDriver(netnsRunner(pbx), { table: 'asterisk_guard', priority: -310 });
    // No init: the table does not exist, so adding an element must fail with nft's own words.
    await expect(broken.ban([{ prefix: prefix(ATK), until: Date.now() + 60_000 }], Date.now())).rejects.toThrow(/nft .*exited 1: .*No such file or directory/);
  });
});
