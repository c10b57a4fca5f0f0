import { connect as tcpConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { RedisClientOptions } from 'redis';

/** A reply, as much of it as the doorbell looks at. */
export type Reply = { kind: 'null' } | { kind: 'array' } | { kind: 'ok' } | { kind: 'error'; text: string } | { kind: 'too-large' };

/** Redis kept a reply past its time: stalled (`kill -STOP`), or a network that drops everything. */
export class NoAnswer extends Error {}

/** The longest bulk string skipped in place; a longer one closes the connection instead of being received. */
const MAX_BULK = 64 * 1024;

/**
 * Reads RESP2 replies without keeping them: bulk strings are counted off, not stored, and a
 * bulk string longer than MAX_BULK stops the reading there (the caller closes the connection:
 * Redis never sends it). Memory stays at one line, whatever Redis holds.
 */
export class ReplySkipper {
  private buffer = Buffer.alloc(0);
  /** Elements still due per open array, innermost last; empty between replies. */
  private readonly due: number[] = [];
  private skip = 0;
  private first: Reply | undefined;

  /** The replies completed by this chunk, in order. */
  feed(chunk: Buffer): Reply[] {
    const done: Reply[] = [];
    let data = this.buffer.length > 0 ? Buffer.concat([this.buffer, chunk]) : chunk;
    for (;;) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, data.length);
        data = data.subarray(n);
        this.skip -= n;
        if (this.skip > 0) break;
        this.element(done);
        continue;
      }
      const end = data.indexOf('\r\n');
      if (end === -1) {
        // A line longer than any RESP header: not Redis speaking.
        if (data.length > 64) return [...done, { kind: 'error', text: 'a reply line longer than 64 bytes' }];
        break;
      }
      const line = data.toString('latin1', 0, end);
      data = data.subarray(end + 2);
      const head = line[0];
      const n = Number(line.slice(1));
      const top = this.due.length === 0;
      if (head === '-') {
        if (top) done.push({ kind: 'error', text: line.slice(1) });
        else this.element(done);
      } else if (head === '*') {
        if (top) this.first = n === -1 ? { kind: 'null' } : { kind: 'array' };
        if (n > 0) this.due.push(n);
        else this.element(done);
      } else if (head === '$') {
        if (n > MAX_BULK) return [...done, { kind: 'too-large' }];
        if (top) this.first = { kind: 'ok' };
        if (n >= 0) this.skip = n + 2;
        else this.element(done);
      } else if (head === '+' || head === ':') {
        if (top) this.first = { kind: 'ok' };
        this.element(done);
      } else {
        return [...done, { kind: 'error', text: `an unexpected reply line ${JSON.stringify(line.slice(0, 16))}` }];
      }
    }
    this.buffer = Buffer.from(data);
    return done;
  }

  /** One element ended: close the arrays it completes; at the top, a reply is done. */
  private element(done: Reply[]): void {
    while (this.due.length > 0) {
      const left = this.due[this.due.length - 1]! - 1;
      if (left > 0) {
        this.due[this.due.length - 1] = left;
        return;
      }
      this.due.pop();
    }
    done.push(this.first!);
    this.first = undefined;
  }
}

function command(args: readonly string[]): Buffer {
  const parts = [`*${args.length}\r\n`];
  for (const a of args) parts.push(`$${Buffer.byteLength(a)}\r\n${a}\r\n`);
  return Buffer.from(parts.join(''));
}

/**
 * Waits for new entries in a stream without receiving them: a connection of its own that
 * blocks on XREAD from the reader's cursor and only learns that something came. The reader
 * then takes the entries through its READ script, which judges their size inside Redis, so a
 * value someone made huge never leaves Redis and the fleet keeps its few-millisecond latency.
 */
export class Doorbell {
  private socket: Socket | undefined;
  private skipper = new ReplySkipper();
  private waiting: ((r: Reply) => void) | undefined;
  private failed: ((e: Error) => void) | undefined;

  constructor(
    private readonly redis: RedisClientOptions,
    private readonly stream: string,
    /** The longest a reply may take beyond the block time: past it Redis is stalled. */
    private readonly timeoutMs: number,
  ) {}

  /** Resolves when entries after `cursor` exist (true) or `blockMs` passed without any (false). */
  async wait(cursor: string, blockMs: number): Promise<boolean> {
    if (this.socket === undefined) await this.open();
    const r = await this.ask(['XREAD', 'COUNT', '1', 'BLOCK', String(blockMs), 'STREAMS', this.stream, cursor], blockMs + this.timeoutMs);
    if (r.kind === 'error') {
      // Whatever came after it is not understood: the next wait starts on a new connection.
      this.close();
      throw new Error(`Redis: ${r.text}`);
    }
    return r.kind !== 'null';
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
    this.skipper = new ReplySkipper();
    this.failed?.(new Error('doorbell closed'));
  }

  private async open(): Promise<void> {
    const url = new URL(this.redis.url!);
    const socketOptions = (this.redis.socket ?? {}) as { tls?: boolean; ca?: string; connectTimeout?: number };
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = Number(url.port || 6379);
    const socket =
      url.protocol === 'rediss:'
        ? tlsConnect({ host, port, ...(socketOptions.ca !== undefined ? { ca: socketOptions.ca } : {}), ...(isIP(host) === 0 ? { servername: host } : {}) })
        : tcpConnect({ host, port });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      for (const r of this.skipper.feed(chunk)) {
        if (r.kind === 'too-large') {
          // Whatever follows is not read: the connection goes, the reader's script takes over.
          const settle = this.waiting;
          this.waiting = undefined;
          this.failed = undefined;
          this.close();
          settle?.({ kind: 'array' });
          return;
        }
        const settle = this.waiting;
        this.waiting = undefined;
        this.failed = undefined;
        settle?.(r);
      }
    });
    socket.on('error', (e) => this.fail(e));
    socket.on('close', () => this.fail(new Error('Redis closed the connection')));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no connection to Redis within ${socketOptions.connectTimeout ?? 2000} ms`)), socketOptions.connectTimeout ?? 2000);
      socket.once(url.protocol === 'rediss:' ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    }).catch((e: Error) => {
      this.close();
      throw e;
    });
    const user = decodeURIComponent(url.username);
    const password = decodeURIComponent(url.password);
    if (password !== '') await this.expectOk(user !== '' ? ['AUTH', user, password] : ['AUTH', password]);
    const db = url.pathname.replace(/^\//, '');
    if (db !== '') await this.expectOk(['SELECT', db]);
  }

  private async expectOk(args: readonly string[]): Promise<void> {
    const r = await this.ask(args, this.timeoutMs);
    if (r.kind === 'error') {
      this.close();
      throw new Error(`Redis: ${r.text}`);
    }
  }

  private ask(args: readonly string[], timeoutMs: number): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        this.failed = undefined;
        this.close();
        reject(new NoAnswer(`Redis did not answer within ${timeoutMs} ms (stalled?)`));
      }, timeoutMs);
      this.waiting = (r) => {
        clearTimeout(timer);
        resolve(r);
      };
      this.failed = (e) => {
        clearTimeout(timer);
        this.waiting = undefined;
        this.failed = undefined;
        reject(e);
      };
      this.socket!.write(command(args));
    });
  }

  private fail(e: Error): void {
    this.socket = undefined;
    this.skipper = new ReplySkipper();
    const failed = this.failed;
    this.waiting = undefined;
    this.failed = undefined;
    failed?.(e);
  }
}
