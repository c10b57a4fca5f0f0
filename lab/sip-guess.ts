#!/usr/bin/env node
// SIP password guessing over UDP, IPv4 or IPv6, for the lab (svcrack speaks IPv4 only and
// sipsak cannot parse an IPv6 URI): `sip-guess FROM[,FROM...] TO USER COUNT [EVERY_MS]`.
// Each guess is a REGISTER, its 401 challenge, and a digest answer with a random password,
// which Asterisk reports as ChallengeResponseFailed. Several FROM addresses make a swarm: each
// guesses COUNT times beside the others, EVERY_MS apart, staggered into a round robin (40
// sources every 20 ms: about 2,000 guesses a second, the issue's swarm). A source stops after
// three unanswered guesses in a row (cut off); prints {"answered":N,"unanswered":M} summed.
import dgram from 'node:dgram';
import { createHash, randomBytes } from 'node:crypto';

const [from, to, user, countText, everyText] = process.argv.slice(2);
if (!from || !to || !user || !countText) {
  process.stderr.write('usage: sip-guess FROM[,FROM...] TO USER COUNT [EVERY_MS]\n');
  process.exit(2);
}
const v6 = to.includes(':');
const host = (a: string) => (v6 ? `[${a}]` : a);
const md5 = (s: string) => createHash('md5').update(s).digest('hex');

/** One source's guesses, in sequence; `offsetMs` staggers the sources of a swarm into a round robin. */
async function guessFrom(from: string, offsetMs: number): Promise<{ answered: number; unanswered: number }> {
  const socket = dgram.createSocket(v6 ? 'udp6' : 'udp4');
  await new Promise<void>((r) => socket.bind(0, from, () => r()));
  const localPort = socket.address().port;

  const request = (callId: string, cseq: number, auth?: string): string => {
    const uri = `sip:${host(to!)}`;
    return [
      `REGISTER ${uri} SIP/2.0`,
      `Via: SIP/2.0/UDP ${host(from)}:${localPort};branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
      'Max-Forwards: 70',
      `From: <sip:${user}@${host(to!)}>;tag=${randomBytes(4).toString('hex')}`,
      `To: <sip:${user}@${host(to!)}>`,
      `Call-ID: ${callId}`,
      `CSeq: ${cseq} REGISTER`,
      `Contact: <sip:${user}@${host(from)}:${localPort}>`,
      'Expires: 60',
      ...(auth ? [`Authorization: ${auth}`] : []),
      'User-Agent: asterisk-guard-lab sip-guess',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
  };

  const exchange = (message: string): Promise<string | undefined> =>
    new Promise((resolve) => {
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

  const guess = async (): Promise<boolean> => {
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
  };

  let answered = 0;
  let unanswered = 0;
  let inARow = 0;
  if (offsetMs > 0) await new Promise((r) => setTimeout(r, offsetMs));
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
  return { answered, unanswered };
}

const sources = from.split(',');
const every = Number(everyText ?? 0);
const results = await Promise.all(sources.map((src, i) => guessFrom(src, (i * every) / sources.length)));
const sum = (k: 'answered' | 'unanswered') => results.reduce((n, r) => n + r[k], 0);
process.stdout.write(`${JSON.stringify({ answered: sum('answered'), unanswered: sum('unanswered') })}\n`);
