import type { ServerResponse } from 'node:http';

// The page's live feed of decisions, as Server-Sent Events. A slow or vanished reader is let
// go rather than buffered for: a swarm's thousands of bans must not queue in the daemon.

const MAX_CLIENTS = 32;
/** Bytes a reader may be behind before it is dropped (it reloads and reconnects). */
const MAX_BEHIND = 1 << 20;
const HEARTBEAT_MS = 20_000;

export class LiveFeed {
  private readonly clients = new Set<ServerResponse>();
  private readonly heartbeat: NodeJS.Timeout;

  constructor() {
    // A comment line keeps proxies from closing an idle stream and finds dead readers.
    this.heartbeat = setInterval(() => this.write(': keep-alive\n\n'), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  get size(): number {
    return this.clients.size;
  }

  /** Takes over a response as an event stream; false when too many are open already. */
  add(res: ServerResponse): boolean {
    if (this.clients.size >= MAX_CLIENTS) return false;
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', Connection: 'keep-alive' });
    res.write('retry: 3000\n\n');
    this.clients.add(res);
    res.on('close', () => this.clients.delete(res));
    return true;
  }

  send(event: string, data: unknown): void {
    if (this.clients.size > 0) this.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  close(): void {
    clearInterval(this.heartbeat);
    for (const res of this.clients) res.end();
    this.clients.clear();
  }

  private write(text: string): void {
    for (const res of this.clients) {
      if (res.writableLength > MAX_BEHIND) {
        res.destroy();
        this.clients.delete(res);
      } else res.write(text);
    }
  }
}
