#!/usr/bin/env node
// AMI over HTTP with digest logins, for the lab (issue 25): `ami-http-guess FROM HOST PORT COUNT`.
// Each request to /arawman carries a digest for a user name from a brute-force list; Asterisk
// answers 401 and writes only "ADDR tried to authenticate with nonexistent user" (manager.c,
// auth_http_callback): no security event. Stops after three unanswered requests in a row;
// prints {"answered":N,"unanswered":M}.
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { tryUntilCutOff } from './cut-off.js';

const [from, host, port, countText] = process.argv.slice(2);
if (!from || !host || !port || !countText) {
  process.stderr.write('usage: ami-http-guess FROM HOST PORT COUNT\n');
  process.exit(2);
}
const USERS = ['admin', 'manager', 'root', 'asterisk', 'freepbx', 'ami'];
const tally = await tryUntilCutOff(Number(countText), async (i) => {
  const user = `${USERS[i % USERS.length]}${i >= USERS.length ? i : ''}`;
  const uri = '/arawman?action=ping';
  const auth = `Digest username="${user}", realm="asterisk", nonce="${randomBytes(4).toString('hex')}", uri="${uri}", response="${randomBytes(16).toString('hex')}", opaque="", qop=auth, nc=00000001, cnonce="${randomBytes(4).toString('hex')}"`;
  const status = await new Promise<number | undefined>((resolve) => {
    const req = http.get({ host, port: Number(port), path: uri, localAddress: from, headers: { Authorization: auth }, timeout: 1000, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
  return status !== undefined;
});
process.stdout.write(`${JSON.stringify(tally)}\n`);
