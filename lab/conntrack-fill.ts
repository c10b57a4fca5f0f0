#!/usr/bin/env node
// `conntrack-fill` (run inside a lab namespace): fills the namespace's connection tracking table
// to nf_conntrack_max, as a flood of new flows does, so that the kernel drops every new flow
// ("nf_conntrack: table full, dropping packet"). nf_conntrack_max cannot be lowered outside the
// host's own namespace, so the table is filled instead. The flows are UDP on loopback, each
// answered and then used again after two seconds: the kernel marks such a flow assured, and a
// full table's early drop evicts only flows that are not, so nothing makes room. Prints
// {"entries":N,"max":M} once full; the flows last as long as nf_conntrack_udp_timeout_stream.
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';

const read = (name: string) => Number(readFileSync(`/proc/sys/net/netfilter/${name}`, 'utf8'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const LISTENERS = 512;
const BASE_PORT = 40_000;
/** Datagrams in flight per sender before it waits for their callbacks. */
const WINDOW = 256;

const open = (port = 0) =>
  new Promise<dgram.Socket>((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(port, '127.0.0.1', () => resolve(s));
  });

const listeners = await Promise.all(Array.from({ length: LISTENERS }, (_, i) => open(BASE_PORT + i)));
// Each answers what it hears: the reply that makes a flow two-way.
for (const l of listeners) l.on('message', (m, from) => l.send(m, from.port, from.address, () => undefined));
const byte = Buffer.from([0]);

/** One datagram from the sender to each of the first `listeners` listeners: as many flows. */
async function sweep(s: dgram.Socket, listeners: number): Promise<void> {
  for (let i = 0; i < listeners; i += WINDOW) {
    await Promise.all(
      Array.from({ length: Math.min(WINDOW, listeners - i) }, (_, k) => new Promise<void>((r) => s.send(byte, BASE_PORT + i + k, '127.0.0.1', () => r()))),
    );
  }
}

const max = read('nf_conntrack_max');
const senders: dgram.Socket[] = [];
// A full table's early drop evicts flows not yet assured, so no round makes more flows than there
// is room for (they would evict one another): each fills at most the room left, is assured, and
// the next fills what is left, until none is.
for (let round = 0; round < 20; round++) {
  const room = max - read('nf_conntrack_count');
  if (room <= 0) break;
  const whole = Math.floor(room / LISTENERS);
  const plan = whole > 0 ? Array.from({ length: whole }, () => LISTENERS) : [room];
  const fresh = await Promise.all(plan.map(() => open()));
  senders.push(...fresh);
  for (const s of fresh) s.on('message', () => undefined);
  // The listeners answer between two senders' sweeps: a full receive queue drops the datagram
  // before it is answered, and a flow never answered is never assured.
  const all = async () => {
    for (const [i, s] of fresh.entries()) {
      await sweep(s, plan[i]!);
      await new Promise((r) => setImmediate(r));
    }
  };
  await all();
  await sleep(2100);
  // Answered, and used again after two seconds: assured.
  await all();
  await sleep(100);
}
process.stdout.write(`${JSON.stringify({ entries: read('nf_conntrack_count'), max })}\n`);
for (const s of [...senders, ...listeners]) s.close();
