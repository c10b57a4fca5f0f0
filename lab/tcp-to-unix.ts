#!/usr/bin/env node
// `tcp-to-unix HOST PORT SOCKET`: a TCP port inside a lab namespace that leads to a unix socket
// on the host's file system, so a program in the namespace (a CrowdSec bouncer) reaches a
// server the test runs outside it. Prints "listening" once it listens.
import net from 'node:net';

const [host, port, socket] = process.argv.slice(2);
if (!host || !port || !socket) {
  process.stderr.write('usage: tcp-to-unix HOST PORT SOCKET\n');
  process.exit(2);
}
net
  .createServer((client) => {
    const server = net.connect(socket);
    client.pipe(server).pipe(client);
    const close = () => {
      client.destroy();
      server.destroy();
    };
    client.on('error', close);
    server.on('error', close);
  })
  .listen(Number(port), host, () => process.stdout.write('listening\n'));
