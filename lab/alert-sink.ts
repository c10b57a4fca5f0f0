#!/usr/bin/env node
// The lab's web peer: `alert-sink PORT FILE LIST` receives the guard's webhook alerts on
// 127.0.0.1:PORT (inside the PBX's namespace) and appends each one, as JSON, to FILE; a GET
// answers LIST, the blocklist the guard's feed pulls (issue 26).
import { appendFileSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const [port, file, list] = process.argv.slice(2);
if (!port || !file || !list) {
  process.stderr.write('usage: alert-sink PORT FILE LIST\n');
  process.exit(2);
}
createServer((req, res) => {
  if (req.method === 'GET') return void res.writeHead(200, { 'Content-Type': 'text/plain' }).end(readFileSync(list));
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString('utf8')));
  req.on('end', () => {
    appendFileSync(file, `${body.replace(/\n/g, ' ')}\n`);
    res.writeHead(204).end();
  });
}).listen(Number(port), '127.0.0.1', () => process.stdout.write('listening\n'));
