import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import { isGuardError } from '../errors.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { MAX_REQUEST_BYTES, parseRequest, RowStream, type Request, type Response } from './protocol.js';

/** Rows per line of a streamed answer: ~10 KB, well under a millisecond of work between turns of the event loop (1,000 took 5 ms: benchmark 7). */
const ROWS_PER_LINE = 100;

/**
 * Admin connections served at once. Each may hold up to MAX_REQUEST_BYTES of a request not yet
 * ended: 100 clients sending 4 MB lines took 1.59 GB (issue 24). The CLI opens one at a time.
 */
export const MAX_CONNECTIONS = 16;

export type Handler = (request: Request) => Promise<unknown>;

/**
 * The admin socket: a unix socket, mode 0600 (root only), one JSON request per line, one JSON
 * response per line. A malformed request gets an error answer; nothing a client sends can
 * stop the daemon.
 */
export class ControlServer {
  private server: net.Server | undefined;
  private connections = 0;

  constructor(
    private readonly socketPath: string,
    private readonly handle: Handler,
    private readonly log: Logger,
  ) {}

  async listen(): Promise<void> {
    mkdirSync(path.dirname(this.socketPath), { recursive: true, mode: 0o700 });
    rmSync(this.socketPath, { force: true });
    const server = net.createServer((socket) => this.serve(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // The umask keeps the socket private between bind and chmod.
      const umask = process.umask(0o177);
      server.listen(this.socketPath, () => {
        process.umask(umask);
        resolve();
      });
    });
    chmodSync(this.socketPath, 0o600);
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(this.socketPath, { force: true });
  }

  private serve(socket: net.Socket): void {
    socket.on('error', () => {});
    if (this.connections >= MAX_CONNECTIONS) {
      this.reply(socket, { ok: false, error: { code: 'AG_ERR_CONTROL_REQUEST', message: `${MAX_CONNECTIONS} admin connections are open already; try again when one has ended` } });
      socket.end();
      return;
    }
    this.connections++;
    socket.once('close', () => this.connections--);
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      if (buffer.length > MAX_REQUEST_BYTES) {
        this.reply(socket, { ok: false, error: { code: 'AG_ERR_CONTROL_REQUEST', message: `request larger than ${MAX_REQUEST_BYTES} bytes` } });
        socket.end();
        buffer = '';
        return;
      }
      for (let nl = buffer.indexOf('\n'); nl !== -1; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (line.trim() !== '') void this.answer(socket, line);
      }
    });
  }

  private async answer(socket: net.Socket, line: string): Promise<void> {
    const parsed = parseRequest(line);
    if (!parsed.ok) {
      this.reply(socket, { ok: false, error: { code: 'AG_ERR_CONTROL_REQUEST', message: parsed.message } });
      return;
    }
    try {
      const data = await this.handle(parsed.request);
      if (data instanceof RowStream) await this.stream(socket, data);
      else this.reply(socket, { ok: true, data });
    } catch (e) {
      const code = isGuardError(e) ? e.code : 'AG_ERR_CONTROL_REQUEST';
      if (!isGuardError(e)) this.log.error({ err: e, cmd: parsed.request.cmd }, 'admin request failed');
      this.reply(socket, { ok: false, error: { code, message: (e as Error).message } });
    }
  }

  /** Rows a line at a time; the event loop runs between lines (events keep their latency), and a slow reader is waited for. */
  private async stream(socket: net.Socket, s: RowStream): Promise<void> {
    let chunk: unknown[] = [];
    let count = 0;
    const send = async () => {
      if (!this.reply(socket, { ok: true, rows: chunk })) await drained(socket);
      chunk = [];
      await sleep(1);
    };
    for (const row of s.rows) {
      chunk.push(row);
      count++;
      if (chunk.length === ROWS_PER_LINE) await send();
      if (socket.destroyed) return;
    }
    if (chunk.length > 0) await send();
    this.reply(socket, { ok: true, data: { count } });
  }

  /** False when the socket's buffer is full (wait for 'drain'). */
  private reply(socket: net.Socket, response: Response): boolean {
    return socket.writable ? socket.write(`${JSON.stringify(response)}\n`) : true;
  }
}

/** Resolves when the socket can take more, or has closed. */
function drained(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done).off('close', done);
      resolve();
    };
    socket.on('drain', done).on('close', done);
  });
}
