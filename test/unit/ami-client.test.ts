import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AmiClient } from '../../src/ami/client.js';
import { ManualClock } from '../support/manual-clock.js';
import { until } from '../support/until.js';

// A hostile or broken AMI peer on loopback; time is the test's clock.

interface Peer {
  port: number;
  received: string;
  socket: net.Socket | undefined;
  close(): Promise<void>;
}

/** Answers the login `answers` times (a hostile peer repeats itself), then stays silent. */
async function peer(answers: number): Promise<Peer> {
  const p: Peer = { port: 0, received: '', socket: undefined, close: async () => {} };
  const server = net.createServer((socket) => {
    p.socket = socket;
    socket.write('Asterisk Call Manager/9.0.0\r\n');
    socket.on('data', (d) => {
      p.received += String(d);
      const login = /ActionID: (login-\d+)/.exec(String(d));
      if (login) for (let i = 0; i < answers; i++) socket.write(`Response: Success\r\nActionID: ${login[1]}\r\nMessage: Authentication accepted\r\n\r\n`);
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  p.port = (server.address() as net.AddressInfo).port;
  p.close = () => new Promise((r) => server.close(() => r()));
  return p;
}

let client: AmiClient | undefined;
afterEach(async () => {
  await client?.stop();
  client = undefined;
});

function start(port: number, clock: ManualClock) {
  client = new AmiClient({ host: '127.0.0.1', port, username: 'guard', secret: 's', pingIntervalMs: 5000, loginTimeoutMs: 10_000, reconnectBaseMs: 500, reconnectMaxMs: 30_000, clock, random: () => 0.5 });
  return client;
}

describe('AmiClient against a hostile peer', () => {
  it('runs one Ping chain however many times the peer accepts the login', async () => {
    const p = await peer(3);
    const clock = new ManualClock();
    await start(p.port, clock).start();
    await clock.advance(5000);
    await until(() => (p.received.match(/Action: Ping/g) ?? []).length >= 1);
    await new Promise((r) => setTimeout(r, 30));
    expect((p.received.match(/Action: Ping/g) ?? []).length).toBe(1);
    // Logoff, then the peer is given a second (of the test's clock) to close before we do.
    const stopping = client!.stop();
    client = undefined;
    await clock.advance(1000);
    await stopping;
    await p.close();
  });

  it('takes a peer that dribbles bytes but never answers a Ping for dead', async () => {
    const p = await peer(1);
    const clock = new ManualClock();
    const c = start(p.port, clock);
    const lost: string[] = [];
    c.on('disconnected', (reason) => lost.push(reason));
    await c.start();
    await clock.advance(5000);
    await until(() => p.received.includes('Action: Ping'));
    // One byte of a frame that never ends, as each Ping falls due.
    p.socket!.write('E');
    await new Promise((r) => setTimeout(r, 20));
    await clock.advance(5000);
    await until(() => lost.length > 0);
    expect(lost[0]).toMatch(/no answer to Ping within 5000 ms/);
    expect(c.stats.deadPeers).toBe(1);
    await p.close();
  });
});
