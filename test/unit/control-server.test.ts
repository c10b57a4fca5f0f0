import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ControlServer, MAX_CONNECTIONS } from '../../src/control/server.js';
import { createLogger } from '../../src/log.js';

const connect = (socketPath: string) =>
  new Promise<{ socket: net.Socket; said: () => string }>((resolve) => {
    let text = '';
    const socket = net.connect(socketPath, () => resolve({ socket, said: () => text }));
    socket.setEncoding('utf8').on('data', (c: string) => (text += c)).on('error', () => {});
  });

describe('the admin socket', () => {
  it('serves so many connections at once, refuses the next with a reason, and serves again once one ends (issue 24)', async () => {
    const socketPath = path.join(mkdtempSync(path.join(tmpdir(), 'ag-ctl-')), 'control.sock');
    const server = new ControlServer(socketPath, async () => ({ fine: true }), createLogger('silent', 'stderr'));
    await server.listen();
    // Each holds an unfinished line of 1 MB, as a hostile or stuck client would.
    const open = await Promise.all(Array.from({ length: MAX_CONNECTIONS }, () => connect(socketPath)));
    for (const c of open) c.socket.write('x'.repeat(1024 * 1024));
    const refused = await connect(socketPath);
    await new Promise((r) => refused.socket.once('close', r));
    expect(refused.said()).toMatch(/"ok":false.*admin connections are open already/);
    open[0]!.socket.destroy();
    await new Promise((r) => setTimeout(r, 50));
    const next = await connect(socketPath);
    next.socket.write('{"cmd":"status"}\n');
    await new Promise((r) => setTimeout(r, 100));
    expect(next.said()).toContain('"ok":true');
    for (const c of [...open, next]) c.socket.destroy();
    await server.close();
  });
});
