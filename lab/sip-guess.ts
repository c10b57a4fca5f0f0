#!/usr/bin/env node
// SIP password guessing over UDP, IPv4 or IPv6, for the lab (svcrack speaks IPv4 only and
// sipsak cannot parse an IPv6 URI): `sip-guess FROM TO USER COUNT [EVERY_MS]`.
// Each guess is a REGISTER, its 401 challenge, and a digest answer with a random password,
// which Asterisk reports as ChallengeResponseFailed. Stops after three unanswered guesses in a
// row (cut off); prints {"answered":N,"unanswered":M}.
import dgram from 'node:dgram';
import { createHash, randomBytes } from 'node:crypto';

const [from, to, user, countText, everyText] = process.argv.slice(2);
if (!from || !to || !user || !countText) {
  process.stderr.write('usage: sip-guess FROM TO USER COUNT [EVERY_MS]\n');
  process.exit(2);
}
const v6 = to.includes(':');
const host = (a: string) => (v6 ? `[${a}]` : a);
const socket = dgram.createSocket(v6 ? 'udp6' : 'udp4');
await new Promise<void>((r) => socket.bind(0, from, () => r()));
const localPort = socket.address().port;
const md5 = (s: string) => createHash('md5').update(s).digest('hex');

function request(callId: string, cseq: number, auth?: string): string {
  const uri = `sip:${host(to!)}`;
  return [
    `REGISTER ${uri} SIP/2.0`,
    `Via: SIP/2.0/UDP ${host(from!)}:${localPort};branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
    'Max-Forwards: 70',
    `From: <sip:${user}@${host(to!)}>;tag=${randomBytes(4).toString('hex')}`,
    `To: <sip:${user}@${host(to!)}>`,
    `Call-ID: ${callId}`,
    `CSeq: ${cseq} REGISTER`,
    `Contact: <sip:${user}@${host(from!)}:${localPort}>`,
    'Expires: 60',
    ...(auth ? [`Authorization: ${auth}`] : []),
    'User-Agent: asterisk-guard-lab sip-guess',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

function exchange(message: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.off('message', onMessage);
      resolve(undefined);
    }, 1000);
    const onMessage = (msg: Buffer) => {
      clearTimeout(timer);
      socket.off('message', onMessage);
      resolve(msg.toString('utf8'));
    };
    socket.on('message', onMessage);
    socket.send(message, 5060, to);
  });
}

async function guess(): Promise<boolean> {
  const callId = `${randomBytes(8).toString('hex')}@lab`;
  const challenge = await exchange(request(callId, 1));
  const header = challenge ? /WWW-Authenticate: Digest (.*)/i.exec(challenge)?.[1] : undefined;
  if (!header) return false;
  const param = (name: string) => new RegExp(`${name}="?([^",\\r]+)`).exec(header)?.[1] ?? '';
  const realm = param('realm');
  const nonce = param('nonce');
  const uri = `sip:${host(to!)}`;
  const cnonce = randomBytes(4).toString('hex');
  const ha1 = md5(`${user}:${realm}:${randomBytes(6).toString('hex')}`);
  const response = md5(`${ha1}:${nonce}:00000001:${cnonce}:auth:${md5(`REGISTER:${uri}`)}`);
  const auth = `Digest username="${user}", realm="${realm}", nonce="${nonce}", uri="${uri}", response="${response}", algorithm=MD5, qop=auth, nc=00000001, cnonce="${cnonce}", opaque="${param('opaque')}"`;
  return (await exchange(request(callId, 2, auth))) !== undefined;
}

let answered = 0;
let unanswered = 0;
let inARow = 0;
for (let i = 0; i < Number(countText) && inARow < 3; i++) {
  if (await guess()) {
    answered++;
    inARow = 0;
  } else {
    unanswered++;
    inARow++;
  }
  if (everyText) await new Promise((r) => setTimeout(r, Number(everyText)));
}
socket.close();
process.stdout.write(`${JSON.stringify({ answered, unanswered })}\n`);
