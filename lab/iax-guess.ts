#!/usr/bin/env node
// An IAX2 registration scanner for the lab (issue 25): `iax-guess FROM HOST PORT COUNT`. Each
// try registers a peer name from a list (RFC 5456: REGREQ, the CALLTOKEN exchange, REGREJ, ACK);
// chan_iax2 with authdebug = yes writes "No registration for peer '...' (from ADDR)" and
// raises no security event. Stops after three unanswered tries in a row; prints
// {"answered":N,"unanswered":M}.
import dgram from 'node:dgram';
import { tryUntilCutOff } from './cut-off.js';

const [from, host, portText, countText] = process.argv.slice(2);
if (!from || !host || !portText || !countText) {
  process.stderr.write('usage: iax-guess FROM HOST PORT COUNT\n');
  process.exit(2);
}
const port = Number(portText);
const IAX = 6;
const REGREQ = 13;
const REGREJ = 16;
const ACK = 4;
const CALLTOKEN = 40;
const IE_USERNAME = 6;
const IE_REFRESH = 19;
const IE_CALLTOKEN = 54;
const started = Date.now();

function frame(source: number, dest: number, oseq: number, iseq: number, subclass: number, ies: Buffer[], timestamp = Date.now() - started): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt16BE(0x8000 | source, 0);
  head.writeUInt16BE(dest, 2);
  head.writeUInt32BE(timestamp >>> 0, 4);
  head[8] = oseq;
  head[9] = iseq;
  head[10] = IAX;
  head[11] = subclass;
  return Buffer.concat([head, ...ies]);
}
const ie = (type: number, data: Buffer) => Buffer.concat([Buffer.from([type, data.length]), data]);
const refresh = ie(IE_REFRESH, Buffer.from([0, 60]));

/** The IEs of a frame, by type. */
function ies(frame: Buffer): Map<number, Buffer> {
  const found = new Map<number, Buffer>();
  for (let at = 12; at + 2 <= frame.length; at += 2 + frame[at + 1]!) found.set(frame[at]!, frame.subarray(at + 2, at + 2 + frame[at + 1]!));
  return found;
}

const socket = dgram.createSocket('udp4');
await new Promise<void>((r) => socket.bind(0, from, () => r()));
const reply = (source: number, ms = 1000) =>
  new Promise<Buffer | undefined>((resolve) => {
    const timer = setTimeout(() => done(undefined), ms);
    const onMessage = (m: Buffer) => {
      if (m.length >= 12 && (m.readUInt16BE(2) & 0x7fff) === source && m[10] === IAX && m[11] !== ACK) done(m);
    };
    const done = (m: Buffer | undefined) => {
      clearTimeout(timer);
      socket.off('message', onMessage);
      resolve(m);
    };
    socket.on('message', onMessage);
  });

const PEERS = ['100', '1000', '2000', 'trunk', 'voip', 'test', 'sip'];
const tally = await tryUntilCutOff(Number(countText), async (i) => {
  const source = 100 + i;
  const user = ie(IE_USERNAME, Buffer.from(`${PEERS[i % PEERS.length]}${i >= PEERS.length ? i : ''}`));
  let waiting = reply(source);
  socket.send(frame(source, 0, 0, 0, REGREQ, [user, refresh, ie(IE_CALLTOKEN, Buffer.alloc(0))]), port, host);
  let answer = await waiting;
  if (answer && answer[11] === CALLTOKEN) {
    const token = ies(answer).get(IE_CALLTOKEN) ?? Buffer.alloc(0);
    waiting = reply(source);
    socket.send(frame(source, 0, 0, 0, REGREQ, [user, refresh, ie(IE_CALLTOKEN, token)]), port, host);
    answer = await waiting;
  }
  if (answer === undefined) return false;
  if (answer[11] === REGREJ) socket.send(frame(source, answer.readUInt16BE(0) & 0x7fff, answer[9]!, (answer[8]! + 1) & 0xff, ACK, [], answer.readUInt32BE(4)), port, host);
  return true;
});
socket.close();
process.stdout.write(`${JSON.stringify(tally)}\n`);
