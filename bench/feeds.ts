// Benchmark 12, the kernel's half (issue 26), run by feeds-main.ts inside a network namespace
// as the daemon runs, with a sender host beside it: a 100,000-entry feed into the kernel
// through the nftables driver, then a refresh with 1% changed while two listed sources send to
// the PBX, one listed before and after (not one of its packets may arrive), one the refresh
// removes (it must arrive again after). References in the same run: the whole list flushed
// and filled (a refresh without the difference), one `nft` process per entry (fail2ban's model,
// sampled on 1,000).
import { execa } from 'execa';
import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { processRunner } from '../src/enforce/command-runner.js';
import { NftablesDriver } from '../src/enforce/nftables-driver.js';
import type { PrefixText } from '../src/net/ip-prefix.js';
import { benchAddress } from './kernel.js';

const names = { table: 'asterisk_guard', priority: -310 };
const PBX = '192.0.2.1';
const PORT = 9999;
const ENTRIES = 100_000;
const CHANGED = ENTRIES / 100;

/** The nth address of 198.18.0.0/15 (n ≥ 1, not the network's own), as the feed lists it. */
const benchText = (n: number): PrefixText => benchAddress(n).text;

/** The sender's two addresses: listed throughout, and one the refresh takes out of the list. */
export const STAYS = benchText(1);
export const LEAVES = benchText(2);

export interface FeedKernelResults {
  readonly entries: number;
  readonly loadSeconds: number;
  readonly refreshSeconds: number;
  readonly changed: number;
  readonly wholeSeconds: number;
  readonly processPerEntryMs: number;
  /** Packets from the source listed throughout that arrived after the list went in (must be 0). */
  readonly passedListed: number;
  /** Sent by the sender per source each second. */
  readonly sendRate: number;
  readonly arrivedBeforeList: number;
  readonly leftArrivedAfter: number;
}

/** Runs in the PBX's namespace; `peers.sender` is the sender host's namespace. */
export async function runFeedKernelBench(peers: Readonly<Record<string, string>>): Promise<FeedKernelResults> {
  const runner = processRunner();
  const driver = new NftablesDriver(runner, names);
  await driver.init();
  const arrived = new Map<string, number>();
  const socket = dgram.createSocket('udp4');
  socket.on('message', (_m, from) => arrived.set(from.address, (arrived.get(from.address) ?? 0) + 1));
  await new Promise<void>((r) => socket.bind(PORT, PBX, () => r()));
  const count = (a: string) => arrived.get(a) ?? 0;
  // Five packets from each address every millisecond, until told to stop.
  const senderStart = performance.now();
  const sender = execa('ip', ['netns', 'exec', peers['sender']!, process.execPath, '-e', SENDER, STAYS, LEAVES, PBX, String(PORT)], { reject: false });
  try {
    await sleep(500);
    const arrivedBeforeList = count(STAYS);
    if (arrivedBeforeList === 0) throw new Error('the sender reached nothing before the list went in: the benchmark cannot see a packet pass');

    const list = Array.from({ length: ENTRIES }, (_, i) => benchText(i + 1));
    let t0 = performance.now();
    await driver.setListed(list);
    const loadSeconds = (performance.now() - t0) / 1000;
    await sleep(200);
    const listedFrom = count(STAYS);

    // 1% changed: LEAVES and the next 999 out, 1,000 new in.
    const next = [list[0]!, ...list.slice(1 + CHANGED), ...Array.from({ length: CHANGED }, (_, i) => benchText(ENTRIES + 1 + i))];
    t0 = performance.now();
    await driver.setListed(next);
    const refreshSeconds = (performance.now() - t0) / 1000;
    const leftBefore = count(LEAVES);
    await sleep(300);
    const leftArrivedAfter = count(LEAVES) - leftBefore;

    // The reference: a driver that does not know what the sets hold replaces them whole.
    const whole = new NftablesDriver(runner, names);
    await whole.init();
    t0 = performance.now();
    await whole.setListed(list);
    const wholeSeconds = (performance.now() - t0) / 1000;
    whole.close();
    await sleep(200);
    const passedListed = count(STAYS) - listedFrom;

    t0 = performance.now();
    for (let i = 0; i < 1000; i++) await execa('nft', ['add', 'element', 'inet', names.table, 'listed_v4_32', `{ ${benchText(200_000 + i)} }`]);
    const processPerEntryMs = (performance.now() - t0) / 1000;

    sender.kill('SIGTERM');
    const sent = Number(String((await sender).stdout).trim());
    return { entries: ENTRIES, loadSeconds, refreshSeconds, changed: CHANGED * 2, wholeSeconds, processPerEntryMs, passedListed, sendRate: sent / ((performance.now() - senderStart) / 1000), arrivedBeforeList, leftArrivedAfter };
  } finally {
    sender.kill('SIGTERM');
    socket.close();
    await driver.destroy();
  }
}

/** The sender (`node -e`): argv STAYS LEAVES PBX PORT; prints packets sent per source when stopped. */
const SENDER = `
const dgram = require('node:dgram');
const [stays, leaves, pbx, port] = process.argv.slice(1);
const a = dgram.createSocket('udp4'), b = dgram.createSocket('udp4');
let sent = 0;
a.bind(0, stays, () => b.bind(0, leaves, () => {
  setInterval(() => { for (let i = 0; i < 5; i++) { a.send('x', +port, pbx); b.send('x', +port, pbx); sent++; } }, 1);
}));
process.on('SIGTERM', () => { process.stdout.write(String(sent)); process.exit(0); });
`;
