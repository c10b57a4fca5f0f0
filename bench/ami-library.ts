// Judges the design card's `asterisk-manager` (0.2.0) against the AMI requirements of issue 2,
// next to our own client, on one loopback AMI peer that speaks the real protocol bytes of
// test/fixtures. Prints the measurements; docs/decisions.md records them.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { AmiFrameDecoder } from '../src/ami/frame-decoder.js';
import { AmiClient } from '../src/ami/client.js';
import { amiPeer as peer } from './ami-peer.js';

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Manager = require('asterisk-manager') as (port: number, host: string, user: string, secret: string, events: boolean) => any;

const capture = readFileSync(new URL('../../test/fixtures/ami-asterisk22-mixed.raw', import.meta.url));
const text = capture.toString('utf8');
const eventsText = text.slice(text.indexOf('Event: ChallengeSent'));
const eventCount = (eventsText.match(/^Event: /gm) ?? []).length;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function wrongSecret(): Promise<void> {
  const p = await peer('refuse', '');
  const errors: unknown[] = [];
  const m = Manager(p.port, '127.0.0.1', 'guard', 'wrong', true);
  m.on('error', (e: unknown) => errors.push(e));
  await sleep(500);
  console.log(`wrong secret, asterisk-manager: connected=${m.isConnected()}, error events=${errors.length}, nothing thrown, no callback: the refusal is silent`);
  m.disconnect();
  const ours = new AmiClient({ host: '127.0.0.1', port: p.port, username: 'guard', secret: 'wrong', pingIntervalMs: 1000, loginTimeoutMs: 1000, reconnectBaseMs: 100, reconnectMaxMs: 1000 });
  const err = await ours.start().then(() => 'resolved', (e: Error) => e.message);
  console.log(`wrong secret, ours: start() rejects: ${err}`);
  p.close();
}

async function deadPeer(): Promise<void> {
  const p = await peer('silent-after-login', '');
  const m = Manager(p.port, '127.0.0.1', 'guard', 's', true);
  let closed = false;
  m.on('close', () => (closed = true));
  await sleep(3000);
  console.log(`dead peer for 3 s, asterisk-manager: still connected=${m.isConnected()}, noticed=${closed} (it sends no Ping; TCP keepalive takes minutes)`);
  m.disconnect();
  const ours = new AmiClient({ host: '127.0.0.1', port: p.port, username: 'guard', secret: 's', pingIntervalMs: 500, loginTimeoutMs: 1000, reconnectBaseMs: 5000, reconnectMaxMs: 5000 });
  const start = performance.now();
  const lost = new Promise<number>((r) => ours.once('disconnected', () => r(performance.now() - start)));
  await ours.start();
  console.log(`dead peer, ours with a 500 ms Ping: noticed after ${Math.round(await lost)} ms`);
  await ours.stop();
  p.close();
}

/** Asterisk restarts: the peer goes away and is back 100 ms later on the same port. */
async function reconnect(): Promise<void> {
  let p = await peer('accept', '');
  const port = p.port;
  const m = Manager(port, '127.0.0.1', 'guard', 's', true);
  m.keepConnected();
  const said: string[] = [];
  const origLog = console.log;
  console.log = (...a: unknown[]) => said.push(a.join(' '));
  await sleep(200);
  p.close();
  await sleep(100);
  p = await peer('accept', '', port);
  const start = performance.now();
  while (!m.isConnected() && performance.now() - start < 15_000) await sleep(50);
  const theirs = performance.now() - start;
  console.log = origLog;
  console.log(`reconnect, asterisk-manager: back after ${Math.round(theirs)} ms (fixed steps of 10 s more each time, no jitter; it said ${JSON.stringify(said)})`);
  m.disconnect();
  const ours = new AmiClient({ host: '127.0.0.1', port, username: 'guard', secret: 's', pingIntervalMs: 5000, loginTimeoutMs: 1000, reconnectBaseMs: 500, reconnectMaxMs: 30_000 });
  await ours.start();
  p.close();
  await sleep(100);
  p = await peer('accept', '', port);
  const t0 = performance.now();
  await new Promise((r) => ours.once('connected', r));
  console.log(`reconnect, ours (base 500 ms, doubling, jittered): back after ${Math.round(performance.now() - t0)} ms`);
  await ours.stop();
  p.close();
}

async function fieldNamesAndThroughput(): Promise<void> {
  const repeat = Math.ceil(200_000 / eventCount);
  const many = eventsText.repeat(repeat);
  const total = eventCount * repeat;
  const p = await peer('accept', many);
  const m = Manager(p.port, '127.0.0.1', 'guard', 's', true);
  let first: Record<string, unknown> | undefined;
  let n = 0;
  const start = performance.now();
  await new Promise<void>((resolve) => {
    m.on('managerevent', (e: Record<string, unknown>) => {
      first ??= e;
      if (++n === total) resolve();
    });
  });
  const theirs = total / ((performance.now() - start) / 1000);
  m.disconnect();
  p.close();
  console.log(`field names, asterisk-manager: ${Object.keys(first ?? {}).slice(0, 6).join(', ')} (lower-cased; Asterisk sends RemoteAddress)`);
  const buf = Buffer.from(many);
  let ours = 0;
  const t0 = performance.now();
  const d = new AmiFrameDecoder({ frame: () => ours++, banner: () => {}, malformed: () => {} });
  for (let i = 0; i < buf.length; i += 65536) d.push(buf.subarray(i, i + 65536));
  const oursRate = ours / ((performance.now() - t0) / 1000);
  console.log(`parsing ${total} events over loopback, asterisk-manager: ${Math.round(theirs)} events/s`);
  console.log(`parsing ${total} events in 64 KiB chunks, ours (framing only): ${Math.round(oursRate)} events/s`);
}

await wrongSecret();
await deadPeer();
await fieldNamesAndThroughput();
await reconnect();
process.exit(0);
