import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { CallHangup, remoteAddressOf } from '../../src/ari/hangup.js';
import { readAriSettings } from '../../src/ari/settings.js';

describe('remoteAddressOf (CHANNEL(pjsip,remote_addr))', () => {
  it.each([
    ['203.0.113.66:5060', '203.0.113.66'],
    ['[2001:db8:66::66]:5060', '2001:db8:66::66'],
    ['203.0.113.66', '203.0.113.66'],
  ])('%s', (v, ip) => expect(remoteAddressOf(v)?.text).toBe(ip));

  it.each(['', 'garbage', '[2001:db8::1', '999.1.1.1:5060'])('rejects %j', (v) => expect(remoteAddressOf(v)).toBeUndefined());
});

describe('readAriSettings', () => {
  const dir = (files: Record<string, string>) => {
    const d = mkdtempSync(path.join(tmpdir(), 'ag-ari-'));
    for (const [n, t] of Object.entries(files)) writeFileSync(path.join(d, n), t);
    return d;
  };

  it('reads the shipped http.conf and ari.conf', () => {
    const s = readAriSettings(new URL('../../asterisk-conf', import.meta.url).pathname, 'asterisk-guard');
    expect(s).toEqual({ url: 'http://127.0.0.1:8088/ari', username: 'asterisk-guard', password: 'change-me-to-a-long-random-string' });
  });

  it.each([
    [{ 'http.conf': '[general]\nenabled = no\n', 'ari.conf': '[g]\npassword = x\n' }, /http\.conf: add `enabled = yes`/],
    [{ 'http.conf': '[general]\nenabled = yes\n', 'ari.conf': '[general]\nenabled = yes\n' }, /no \[g\] user/],
    [{ 'http.conf': '[general]\nenabled = yes\n', 'ari.conf': '[g]\npassword = $6$x\npassword_format = crypt\n' }, /crypt password: set ari\.password/],
    [{ 'ari.conf': '[g]\npassword = x\n' }, /http\.conf.*cannot read/],
  ])('says what is missing (%#)', (files, message) => {
    const s = readAriSettings(dir(files), 'g');
    expect('missing' in s && s.missing).toMatch(message);
  });

  it('follows the bind address, port and prefix of http.conf', () => {
    const s = readAriSettings(dir({ 'http.conf': '[general]\nenabled = yes\nbindaddr = ::\nbindport = 8090\nprefix = asterisk\n', 'ari.conf': '[g]\npassword = x\n' }), 'g');
    expect(s).toMatchObject({ url: 'http://[::1]:8090/asterisk/ari' });
  });
});

describe('CallHangup.check (at start)', () => {
  const log = pino({ level: 'silent' });

  it('asks ARI for its system info with the user, and says why when refused', async () => {
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers.authorization}`);
      const ok = req.headers.authorization === `Basic ${Buffer.from('g:right').toString('base64')}`;
      res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' }).end(ok ? '{"system":{}}' : '{"message":"Authentication required"}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ari`;
    try {
      await expect(new CallHangup({ url, username: 'g', password: 'right' }, log).check()).resolves.toBeUndefined();
      await expect(new CallHangup({ url, username: 'g', password: 'wrong' }, log).check()).rejects.toThrow(/ARI GET \/asterisk\/info\?only=system: 401 .*Authentication required/);
      expect(seen[0]).toMatch(/^GET \/ari\/asterisk\/info\?only=system Basic /);
    } finally {
      server.close();
    }
  });

  it('says where it could not connect', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((r) => server.close(() => r()));
    await expect(new CallHangup({ url: `http://127.0.0.1:${port}/ari`, username: 'g', password: 'x' }, log).check()).rejects.toThrow(new RegExp(`at http://127.0.0.1:${port}/ari: .*ECONNREFUSED`));
  });
});
