#!/usr/bin/env node
// An unauthenticated INVITE scanner for the lab (issue 25): `sip-scan FROM TO DOMAIN COUNT`.
// Each INVITE comes "from" DOMAIN (the lab's anonymous@anon.example endpoint takes it) and
// dials an international number hoping for an open route; Asterisk answers 404 and writes
// only a NOTICE line: no security event. Each final answer is ACKed. Stops after three
// unanswered INVITEs in a row (cut off); prints {"answered":N,"unanswered":M}.
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { tryUntilCutOff } from './cut-off.js';

const [from, to, domain, countText] = process.argv.slice(2);
if (!from || !to || !domain || !countText) {
  process.stderr.write('usage: sip-scan FROM TO DOMAIN COUNT\n');
  process.exit(2);
}
const NUMBERS = ['0097278789911', '901144203555', '00441632960', '0088213', '00252615'];
const socket = dgram.createSocket('udp4');
await new Promise<void>((r) => socket.bind(0, from, () => r()));
const port = socket.address().port;
const tally = await tryUntilCutOff(Number(countText), async (i) => {
  const number = `${NUMBERS[i % NUMBERS.length]}${i}`;
  const branch = `z9hG4bK${randomBytes(6).toString('hex')}`;
  const tag = randomBytes(4).toString('hex');
  const callId = randomBytes(8).toString('hex');
  const uri = `sip:${number}@${to}`;
  const sdp = `v=0\r\no=- 1 1 IN IP4 ${from}\r\ns=-\r\nc=IN IP4 ${from}\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n`;
  const head = (method: string, toTag?: string) => [
    `${method} ${uri} SIP/2.0`,
    `Via: SIP/2.0/UDP ${from}:${port};branch=${branch};rport`,
    'Max-Forwards: 70',
    `From: <sip:scanner@${domain}>;tag=${tag}`,
    `To: <${uri}>${toTag ? `;tag=${toTag}` : ''}`,
    `Call-ID: ${callId}`,
    `CSeq: 1 ${method}`,
  ];
  const invite = [...head('INVITE'), `Contact: <sip:scanner@${from}:${port}>`, 'Content-Type: application/sdp', 'User-Agent: friendly-scanner', `Content-Length: ${Buffer.byteLength(sdp)}`, '', sdp].join('\r\n');
  const final = await new Promise<string | undefined>((resolve) => {
    const timer = setTimeout(() => done(undefined), 1000);
    const onMessage = (m: Buffer) => {
      const text = m.toString();
      const status = Number(/^SIP\/2\.0 (\d{3})/.exec(text)?.[1]);
      if (text.includes(callId) && status >= 200) done(text);
    };
    const done = (text: string | undefined) => {
      clearTimeout(timer);
      socket.off('message', onMessage);
      resolve(text);
    };
    socket.on('message', onMessage);
    socket.send(invite, 5060, to);
  });
  if (final === undefined) return false;
  const toTag = /^To:.*;tag=([^;\s]+)/im.exec(final)?.[1];
  socket.send([...head('ACK', toTag), 'Content-Length: 0', '', ''].join('\r\n'), 5060, to);
  return true;
});
socket.close();
process.stdout.write(`${JSON.stringify(tally)}\n`);
