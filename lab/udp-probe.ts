#!/usr/bin/env node
// A tiny UDP peer for the lab and the tests, run inside a namespace:
//   udp-probe listen PORT            prints one JSON line per datagram: {"from":"203.0.113.66"}
//   udp-probe send FROM TO PORT MS   sends a datagram every MS ms from FROM (fixed source port,
//                                    so every datagram belongs to one conntrack flow)
import dgram from 'node:dgram';

const [mode, ...args] = process.argv.slice(2);

if (mode === 'listen') {
  const port = Number(args[0]);
  for (const type of ['udp4', 'udp6'] as const) {
    const socket = dgram.createSocket({ type, ipv6Only: type === 'udp6' });
    socket.on('message', (_msg, rinfo) => process.stdout.write(`${JSON.stringify({ from: rinfo.address })}\n`));
    socket.bind(port, type === 'udp4' ? '0.0.0.0' : '::', () => {
      if (type === 'udp6') process.stdout.write(`${JSON.stringify({ listening: port })}\n`);
    });
  }
} else if (mode === 'send') {
  const [from, to, port, every] = args;
  const socket = dgram.createSocket(from!.includes(':') ? 'udp6' : 'udp4');
  socket.bind(40000, from, () => {
    setInterval(() => socket.send('OPTIONS probe', Number(port), to), Number(every));
  });
} else {
  process.stderr.write('usage: udp-probe listen PORT | send FROM TO PORT MS\n');
  process.exit(2);
}
