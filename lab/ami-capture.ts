#!/usr/bin/env node
// `ami-capture USER SECRET EVENTS FILE`: logs in to the AMI on 127.0.0.1:5038 (inside the PBX's
// namespace) asking for EVENTS (`security,call`) and writes every byte it receives to FILE,
// as the fixtures in test/fixtures are, until SIGTERM.
import { createWriteStream } from 'node:fs';
import net from 'node:net';

const [user, secret, events, file] = process.argv.slice(2);
if (!user || !secret || !events || !file) {
  process.stderr.write('usage: ami-capture USER SECRET EVENTS FILE\n');
  process.exit(2);
}
const out = createWriteStream(file);
const socket = net.connect(5038, '127.0.0.1', () => socket.write(`Action: Login\r\nActionID: capture-1\r\nUsername: ${user}\r\nSecret: ${secret}\r\nEvents: ${events}\r\n\r\n`));
socket.on('data', (chunk) => {
  out.write(chunk);
  if (chunk.includes('Authentication accepted')) process.stdout.write('capturing\n');
});
process.on('SIGTERM', () => {
  socket.end();
  out.end(() => process.exit(0));
});
