#!/usr/bin/env node
// The lab admins' inbox: `alert-sink PORT FILE` receives the guard's webhook alerts on
// 127.0.0.1:PORT (inside the PBX's namespace) and appends each one, as JSON, to FILE.
import { appendFileSync } from 'node:fs';
import { createServer } from 'node:http';

const [port, file] = process.argv.slice(2);
if (!port || !file) {
  process.stderr.write('usage: alert-sink PORT FILE\n');
  process.exit(2);
}
createServer((req, res) => {
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString('utf8')));
  req.on('end', () => {
    appendFileSync(file, `${body.replace(/\n/g, ' ')}\n`);
    res.writeHead(204).end();
  });
}).listen(Number(port), '127.0.0.1', () => process.stdout.write('listening\n'));
