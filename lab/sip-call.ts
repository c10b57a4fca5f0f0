#!/usr/bin/env node
// A SIP call for the lab: `sip-call FROM TO USER PASSWORD EXTEN [HOLD_MS]` places an INVITE with
// digest auth (a phone, or the attacker who knows a password, calling out), answers ACK, and
// stays in the call, or hangs up itself after HOLD_MS (BYE). Prints {"event":"up"} when the call
// is answered, {"event":"bye"} when the PBX hangs up, {"event":"hungup"} after its own BYE, and
// {"event":"failed","status":...} when the call is refused or nothing answers within 5 s.
import dgram from 'node:dgram';
import { createHash, randomBytes } from 'node:crypto';

const [from, to, user, password, exten, holdText] = process.argv.slice(2);
if (!from || !to || !user || !password || !exten) {
  process.stderr.write('usage: sip-call FROM TO USER PASSWORD EXTEN\n');
  process.exit(2);
}
const socket = dgram.createSocket('udp4');
await new Promise<void>((r) => socket.bind(0, from, () => r()));
const port = socket.address().port;
const md5 = (s: string) => createHash('md5').update(s).digest('hex');
const say = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
const callId = `${randomBytes(8).toString('hex')}@lab`;
const fromTag = randomBytes(4).toString('hex');
const uri = `sip:${exten}@${to}`;
const sdp = [`v=0`, `o=- 1 1 IN IP4 ${from}`, `s=-`, `c=IN IP4 ${from}`, `t=0 0`, `m=audio 40002 RTP/AVP 0`, `a=rtpmap:0 PCMU/8000`, `a=sendrecv`, ``].join('\r\n');

function message(lines: string[], body = ''): string {
  return [...lines, `Content-Length: ${Buffer.byteLength(body)}`, '', body].join('\r\n');
}

function header(text: string, name: string): string | undefined {
  return new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(text)?.[1]?.trim();
}

function invite(cseq: number, branch: string, auth?: string): string {
  return message(
    [
      `INVITE ${uri} SIP/2.0`,
      `Via: SIP/2.0/UDP ${from}:${port};branch=${branch};rport`,
      'Max-Forwards: 70',
      `From: <sip:${user}@${to}>;tag=${fromTag}`,
      `To: <${uri}>`,
      `Call-ID: ${callId}`,
      `CSeq: ${cseq} INVITE`,
      `Contact: <sip:${user}@${from}:${port}>`,
      ...(auth ? [`Authorization: ${auth}`] : []),
      'Content-Type: application/sdp',
    ],
    sdp,
  );
}

function ack(cseq: number, branch: string, toHeader: string, requestUri = uri): string {
  return message([`ACK ${requestUri} SIP/2.0`, `Via: SIP/2.0/UDP ${from}:${port};branch=${branch};rport`, 'Max-Forwards: 70', `From: <sip:${user}@${to}>;tag=${fromTag}`, `To: ${toHeader}`, `Call-ID: ${callId}`, `CSeq: ${cseq} ACK`]);
}

const send = (text: string) => socket.send(text, 5060, to);
const branch1 = `z9hG4bK${randomBytes(6).toString('hex')}`;
const branch2 = `z9hG4bK${randomBytes(6).toString('hex')}`;
let state: 'challenge' | 'auth' | 'up' | 'bye' = 'challenge';
const hold = holdText === undefined ? undefined : Number(holdText);

socket.on('message', (buf) => {
  const text = buf.toString('utf8');
  const status = /^SIP\/2\.0 (\d{3})/.exec(text)?.[1];
  if (status === undefined) {
    if (text.startsWith('BYE ')) {
      const lines = ['SIP/2.0 200 OK', ...['Via', 'From', 'To', 'Call-ID', 'CSeq'].map((h) => `${h}: ${header(text, h)}`)];
      send(message(lines));
      say({ event: 'bye' });
      setTimeout(() => process.exit(0), 50);
    }
    return;
  }
  const code = Number(status);
  if (code < 200) return;
  if (state === 'bye') {
    say({ event: 'hungup' });
    process.exit(0);
  }
  if (state === 'challenge' && code === 401) {
    send(ack(1, branch1, header(text, 'To')!));
    const challenge = header(text, 'WWW-Authenticate')!;
    const param = (n: string) => new RegExp(`${n}="?([^",]+)`).exec(challenge)?.[1] ?? '';
    const cnonce = randomBytes(4).toString('hex');
    const ha1 = md5(`${user}:${param('realm')}:${password}`);
    const response = md5(`${ha1}:${param('nonce')}:00000001:${cnonce}:auth:${md5(`INVITE:${uri}`)}`);
    state = 'auth';
    send(invite(2, branch2, `Digest username="${user}", realm="${param('realm')}", nonce="${param('nonce')}", uri="${uri}", response="${response}", algorithm=MD5, qop=auth, nc=00000001, cnonce="${cnonce}", opaque="${param('opaque')}"`));
    return;
  }
  if (state === 'auth' && code === 200) {
    const contact = /<([^>]+)>/.exec(header(text, 'Contact') ?? '')?.[1] ?? uri;
    const toHeader = header(text, 'To')!;
    send(ack(2, `z9hG4bK${randomBytes(6).toString('hex')}`, toHeader, contact));
    state = 'up';
    say({ event: 'up' });
    if (hold !== undefined) {
      setTimeout(() => {
        state = 'bye';
        const bye = message([`BYE ${contact} SIP/2.0`, `Via: SIP/2.0/UDP ${from}:${port};branch=z9hG4bK${randomBytes(6).toString('hex')};rport`, 'Max-Forwards: 70', `From: <sip:${user}@${to}>;tag=${fromTag}`, `To: ${toHeader}`, `Call-ID: ${callId}`, 'CSeq: 3 BYE']);
        send(bye);
      }, hold);
    }
    return;
  }
  if (state !== 'up') {
    say({ event: 'failed', status: code });
    process.exit(1);
  }
});
send(invite(1, branch1));
setTimeout(() => {
  if (state !== 'up') {
    say({ event: 'failed', status: 'timeout' });
    process.exit(1);
  }
}, 5000);
