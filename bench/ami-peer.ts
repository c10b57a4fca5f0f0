// A loopback AMI peer for the benchmarks: it speaks Asterisk's bytes (banner, Login and Ping
// answers, events), without Asterisk.
import net from 'node:net';

const banner = 'Asterisk Call Manager/11.0.0\r\n';

export type Behaviour = 'accept' | 'refuse' | 'silent-after-login';

export interface AmiPeer {
  readonly port: number;
  /** More events, to every client logged in. */
  send(events: string): void;
  close(): void;
}

/** A loopback AMI peer: banner, answer to Login (accept or refuse), `events` after it, Pings (or silence). */
export function amiPeer(behaviour: Behaviour, events: string, port = 0): Promise<AmiPeer> {
  const sockets = new Set<net.Socket>();
  const loggedIn = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => {
      sockets.delete(s);
      loggedIn.delete(s);
    });
    s.write(banner);
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString();
      let end: number;
      while ((end = buf.indexOf('\r\n\r\n')) !== -1) {
        const action = buf.slice(0, end);
        buf = buf.slice(end + 4);
        const id = /ActionID: (.*)/i.exec(action)?.[1] ?? '';
        if (/Action: login/i.test(action)) {
          if (behaviour === 'refuse') s.write(`Response: Error\r\nActionID: ${id}\r\nMessage: Authentication failed\r\n\r\n`);
          else {
            s.write(`Response: Success\r\nActionID: ${id}\r\nMessage: Authentication accepted\r\n\r\n`);
            loggedIn.add(s);
            if (events) s.write(events);
          }
        } else if (/Action: ping/i.test(action) && behaviour !== 'silent-after-login') {
          s.write(`Response: Success\r\nActionID: ${id}\r\nPing: Pong\r\n\r\n`);
        }
      }
    });
  });
  return new Promise((resolve) =>
    server.listen(port, '127.0.0.1', () =>
      resolve({
        port: (server.address() as net.AddressInfo).port,
        send: (more) => {
          for (const s of loggedIn) s.write(more);
        },
        close: () => {
          for (const s of sockets) s.destroy();
          server.close();
        },
      }),
    ),
  );
}

