import net from 'node:net';
import tls from 'node:tls';
import { EventEmitter } from 'eventemitter3';
import { GuardError } from '../errors.js';
import { backoff } from '../time/backoff.js';
import { systemClock, type Clock } from '../time/clock.js';
import type { FieldReader } from '../events/fields.js';
import { AmiFrameDecoder, type AmiFrame, type MalformedKind } from './frame-decoder.js';

export interface AmiTlsOptions {
  readonly ca?: string | Buffer;
  /** Asterisk's certificate is often self-signed for 127.0.0.1: the admin chooses. */
  readonly rejectUnauthorized: boolean;
  readonly servername?: string;
}

export interface AmiClientOptions {
  readonly host: string;
  readonly port: number;
  readonly username: string;
  readonly secret: string;
  readonly tls?: AmiTlsOptions;
  /** A Ping goes out this often; a peer that has not answered the previous one is dead. */
  readonly pingIntervalMs: number;
  readonly loginTimeoutMs: number;
  readonly reconnectBaseMs: number;
  readonly reconnectMaxMs: number;
  /** Jitter source for reconnect delays (half fixed, half random); injectable for tests. */
  readonly random?: () => number;
  readonly clock?: Clock;
  /** The event classes asked for at login (`security`; `security,call` for the toll-fraud guard). */
  readonly events?: string;
}

/** Asterisk's answer to an action, fields copied out of the frame. */
export type AmiResponse = Readonly<Record<string, string>>;

/** An action answered with a list (DBGetTree): its response, and the fields asked for of each item event. */
export interface AmiList {
  readonly response: AmiResponse;
  readonly items: readonly AmiResponse[];
}

interface Waiter {
  readonly resolve: (r: AmiList) => void;
  readonly reject: (e: Error) => void;
  readonly cancel: () => void;
  /** For a list action: the item fields to copy, the items so far, its response once come. */
  readonly list?: { readonly want: readonly string[]; readonly items: AmiResponse[]; response?: AmiResponse };
}

export interface AmiClientEvents {
  /** A frame with an `Event` field, and the wall-clock time its bytes arrived. */
  /** `fields` is valid during the call only (see AmiFrame). */
  event: (fields: FieldReader, arrival: number) => void;
  connected: (banner: string) => void;
  disconnected: (reason: string, retryInMs: number) => void;
  malformed: (kind: MalformedKind, detail: string) => void;
  /** Login refused after having worked once: retried, but the admin must hear it. */
  authFailed: (error: GuardError) => void;
}

type State = 'idle' | 'connecting' | 'ready' | 'stopped';

/**
 * A small AMI client for one job: log in, receive events, notice a dead peer, come back.
 * Besides Login, Ping and Logoff, `send` carries the toll-fraud guard's few actions (Hangup,
 * DBPut, DBDel) and hands back Asterisk's answer.
 */
export class AmiClient extends EventEmitter<AmiClientEvents> {
  private state: State = 'idle';
  private socket: net.Socket | undefined;
  private readonly clock: Clock;
  private cancelPing: (() => void) | undefined;
  private cancelReconnect: (() => void) | undefined;
  private cancelLogin: (() => void) | undefined;
  private attempt = 0;
  private actionSeq = 0;
  private awaitingPing = false;
  private bannerText = '';
  private everLoggedIn = false;
  private closeReason: string | undefined;
  private firstLogin: { resolve: () => void; reject: (e: Error) => void } | undefined;
  private readonly waiting = new Map<string, Waiter>();
  readonly stats = { reconnects: 0, pings: 0, deadPeers: 0 };

  constructor(private readonly options: AmiClientOptions) {
    super();
    this.clock = options.clock ?? systemClock;
  }

  get connected(): boolean {
    return this.state === 'ready';
  }

  /**
   * Connects and logs in. Resolves on the first successful login; rejects if Asterisk refuses
   * the credentials (a config error the admin must fix). Connection failures are retried.
   */
  start(): Promise<void> {
    // Stopped before it started (a daemon stopped while starting): nothing to wait for.
    if (this.state === 'stopped') return Promise.resolve();
    if (this.state !== 'idle') throw new Error('AmiClient.start called twice');
    return new Promise((resolve, reject) => {
      this.firstLogin = { resolve, reject };
      this.connect();
    });
  }

  /** Logs off and closes; no reconnect after this. */
  async stop(): Promise<void> {
    this.state = 'stopped';
    this.clearTimers();
    // A start still waiting for its first login ends: there will be none.
    this.firstLogin?.resolve();
    this.firstLogin = undefined;
    const socket = this.socket;
    this.socket = undefined;
    if (!socket || socket.destroyed) return;
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      if (socket.writable) socket.end(this.action('Logoff', {}));
      else socket.destroy();
      this.clock.after(1000, () => socket.destroy());
    });
  }

  private connect(): void {
    if (this.state === 'stopped') return;
    this.state = 'connecting';
    this.bannerText = '';
    const { host, port } = this.options;
    const socket = this.options.tls
      ? tls.connect({ host, port, ...this.options.tls })
      : net.connect({ host, port });
    this.socket = socket;
    socket.setNoDelay(true);
    const decoder = new AmiFrameDecoder({
      frame: (fields) => this.onFrame(fields),
      banner: (text) => {
        this.bannerText = text;
        socket.write(this.action('Login', { Username: this.options.username, Secret: this.options.secret, Events: this.options.events ?? 'security' }));
      },
      malformed: (kind, detail) => this.emit('malformed', kind, detail),
    });
    socket.on('data', (chunk: Buffer) => decoder.push(chunk));
    socket.on('close', () => {
      decoder.end();
      if (this.socket === socket) this.lost(this.closeReason ?? 'connection closed');
      this.closeReason = undefined;
    });
    socket.on('error', (error) => {
      this.closeReason = `${error.message}`;
    });
    this.cancelLogin = this.clock.after(this.options.loginTimeoutMs, () => {
      this.closeReason = `no AMI login answer within ${this.options.loginTimeoutMs} ms (is ${host}:${port} Asterisk's manager port?)`;
      socket.destroy();
    });
  }

  private onFrame(frame: AmiFrame): void {
    // A whole frame answers a Ping; bytes dribbled one at a time do not.
    this.awaitingPing = false;
    if (frame.get('Event') !== undefined) {
      // While no action waits for its answer (nearly always), an event is not looked up.
      if (this.waiting.size === 0 || !this.onListItem(frame)) this.emit('event', frame, this.clock.now());
      return;
    }
    const id = frame.get('ActionID') ?? '';
    if (id.startsWith('login-')) this.onLoginResponse(frame);
    const waiter = this.waiting.get(id);
    if (!waiter) return;
    const response = copyFields(frame, ['Response', 'Message', 'Val']);
    // A list's items follow its Success, and end with an event saying it is complete.
    if (waiter.list && response['Response'] === 'Success') waiter.list.response = response;
    else this.settle(id, waiter, { response, items: [] });
  }

  /** An event of a list action in flight (same ActionID): kept for it, not emitted. */
  private onListItem(frame: AmiFrame): boolean {
    const id = frame.get('ActionID') ?? '';
    const waiter = this.waiting.get(id);
    if (!waiter?.list) return false;
    if (frame.get('EventList') === 'Complete') this.settle(id, waiter, { response: waiter.list.response ?? {}, items: waiter.list.items });
    else waiter.list.items.push(copyFields(frame, waiter.list.want));
    return true;
  }

  private settle(id: string, waiter: Waiter, answer: AmiList): void {
    this.waiting.delete(id);
    waiter.cancel();
    waiter.resolve(answer);
  }

  /**
   * Sends an action once logged in; resolves with Asterisk's answer (`Response: Error` too: the
   * caller reads it), rejects when not connected, or no answer came within `timeoutMs`.
   */
  async send(name: string, fields: Record<string, string>, timeoutMs: number): Promise<AmiResponse> {
    return (await this.request(name, fields, timeoutMs)).response;
  }

  /** Sends an action answered with a list of events (DBGetTree); `want`: the fields kept of each. */
  sendList(name: string, fields: Record<string, string>, want: readonly string[], timeoutMs: number): Promise<AmiList> {
    return this.request(name, fields, timeoutMs, want);
  }

  private request(name: string, fields: Record<string, string>, timeoutMs: number, want?: readonly string[]): Promise<AmiList> {
    const socket = this.socket;
    if (this.state !== 'ready' || !socket) return Promise.reject(new Error('AMI is not connected'));
    let text: string;
    try {
      text = this.action(name, fields);
    } catch (e) {
      return Promise.reject(e as Error);
    }
    const id = `${name.toLowerCase()}-${this.actionSeq}`;
    return new Promise((resolve, reject) => {
      const cancel = this.clock.after(timeoutMs, () => {
        this.waiting.delete(id);
        reject(new Error(`no answer to AMI ${name} within ${timeoutMs} ms`));
      });
      this.waiting.set(id, { resolve, reject, cancel, ...(want ? { list: { want, items: [] } } : {}) });
      socket.write(text);
    });
  }

  private onLoginResponse(frame: AmiFrame): void {
    // A peer repeating its answer (a hostile one, or a proxy) must not start a second Ping chain.
    if (this.state === 'ready') return;
    this.cancelLogin?.();
    if (frame.get('Response') === 'Success') {
      this.state = 'ready';
      this.attempt = 0;
      this.everLoggedIn = true;
      this.startPing();
      this.emit('connected', this.bannerText);
      this.firstLogin?.resolve();
      this.firstLogin = undefined;
      return;
    }
    const error = new GuardError(
      'AG_ERR_AMI_AUTH',
      `Asterisk at ${this.options.host}:${this.options.port} refused the login of user ${JSON.stringify(this.options.username)}: ` +
        `${frame.get('Message') ?? 'no reason given'}. Check the secret and the permit/deny lines of [${this.options.username}] in manager.conf.`,
    );
    if (this.firstLogin) {
      this.firstLogin.reject(error);
      this.firstLogin = undefined;
      void this.stop();
      return;
    }
    this.emit('authFailed', error);
    this.closeReason = error.message;
    this.socket?.destroy();
  }

  private startPing(): void {
    this.awaitingPing = false;
    this.cancelPing?.();
    const tick = () => {
      if (this.awaitingPing) {
        // Nothing at all came back for a whole interval: the peer is gone (a dead TCP peer can
        // stay "open" for minutes without this).
        this.stats.deadPeers++;
        this.closeReason = `no answer to Ping within ${this.options.pingIntervalMs} ms`;
        this.socket?.destroy();
        return;
      }
      this.awaitingPing = true;
      this.stats.pings++;
      this.socket?.write(this.action('Ping', {}));
      this.cancelPing = this.clock.after(this.options.pingIntervalMs, tick);
    };
    this.cancelPing = this.clock.after(this.options.pingIntervalMs, tick);
  }

  private lost(reason: string): void {
    this.clearTimers();
    for (const w of this.waiting.values()) {
      w.cancel();
      w.reject(new Error(`AMI connection lost (${reason})`));
    }
    this.waiting.clear();
    this.socket = undefined;
    if (this.state === 'stopped') return;
    this.state = 'connecting';
    const random = this.options.random ?? Math.random;
    const ceiling = backoff(this.attempt + 1, this.options.reconnectBaseMs, this.options.reconnectMaxMs);
    const delay = Math.round(ceiling / 2 + (random() * ceiling) / 2);
    this.attempt++;
    if (this.everLoggedIn) this.stats.reconnects++;
    this.emit('disconnected', reason, delay);
    this.cancelReconnect = this.clock.after(delay, () => this.connect());
  }

  private clearTimers(): void {
    for (const cancel of [this.cancelPing, this.cancelReconnect, this.cancelLogin]) cancel?.();
    this.cancelPing = undefined;
    this.cancelReconnect = undefined;
    this.cancelLogin = undefined;
  }

  private action(name: string, fields: Record<string, string>): string {
    const id = `${name.toLowerCase()}-${++this.actionSeq}`;
    let text = `Action: ${name}\r\nActionID: ${id}\r\n`;
    for (const [k, v] of Object.entries(fields)) {
      // A CR or LF would start a new field. The config refuses them; this is the last guard.
      if (/[\r\n]/.test(v)) throw new Error(`AMI ${name} field ${k} contains a line break`);
      text += `${k}: ${v}\r\n`;
    }
    return `${text}\r\n`;
  }
}

/** The named fields that stand once (a repeat is a value that made a field of itself: left out). */
export function copyFields(frame: AmiFrame, names: readonly string[]): AmiResponse {
  const out: Record<string, string> = {};
  for (const name of names) {
    const v = frame.single(name);
    if (typeof v === 'string') out[name] = v;
  }
  return out;
}
