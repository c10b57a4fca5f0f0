import type { Logger } from 'pino';
import { createClient, type RedisClientOptions } from 'redis';
import type { Store } from '../store/store.js';
import type { Clock } from '../time/clock.js';
import { encodeEntry, parseEntry, type FleetEntry, type FleetWidest } from './fleet-entry.js';

export interface FleetLinkOptions {
  /** redis:// or rediss:// (TLS), user and password in the URL (a Redis ACL user): see redis-options.ts. */
  readonly redis: RedisClientOptions;
  /** This node's name: its own entries are not applied again. */
  readonly node: string;
  readonly widest: FleetWidest;
  /** How long the stream keeps entries: a node away longer resyncs from the active bans. */
  readonly keepMs: number;
  readonly clock: Clock;
  /** Where decisions wait while Redis is away: the store, so a restart meanwhile loses none. */
  readonly outbox: Pick<Store, 'outboxPush' | 'outboxFirst' | 'outboxDrop' | 'outboxSize'>;
  /** Another node's ban or unban, checked. */
  readonly onEntry: (entry: FleetEntry) => void;
  /** Something in Redis that is not an entry we accept (counted and logged, never applied). */
  readonly onRefused: (reason: string) => void;
  /** The link was lost, or is back. */
  readonly onLink: (up: boolean, detail: string) => void;
}

// One hash tag: the stream, the active bans and their expiries live in one Redis Cluster slot.
const STREAM = 'asterisk-guard:{fleet}:bans';
const ACTIVE = 'asterisk-guard:{fleet}:active';
const EXPIRY = 'asterisk-guard:{fleet}:expiry';
/** The cursor of a node that found the stream empty: every entry comes after it. */
const EMPTY_STREAM = '0-0';
/** Entries read per XREAD, and active bans per HSCAN step. */
const BATCH = 1000;
/** Decisions kept while Redis is away, then published in order; beyond it the oldest go. */
const MAX_OUTBOX = 100_000;

type Client = ReturnType<typeof createClient>;

/**
 * The fleet over Redis. Every node bans locally first and publishes after (no added latency on
 * the event → kernel path): an append-only stream carries bans and unbans, a hash holds the
 * bans in force (with a sorted set of their ends, pruned as nodes publish). A node reads the
 * stream from its cursor; one that starts, or was away longer than the stream keeps, first
 * takes every ban in force from the hash. Redis down: decisions wait in an outbox, in order,
 * and go out when it is back; applying an entry twice changes nothing (the ledger).
 */
export class FleetLink {
  private writer: Client | undefined;
  private reader: Client | undefined;
  private cursor: string | undefined;
  private up = false;
  private stopped = false;
  private reading: Promise<void> | undefined;
  /** After a start or a lost link: was the stream trimmed past the cursor meanwhile? */
  private checkCursor = true;
  /** The outbox is being published: new decisions queue behind it. */
  private flushing = false;
  private everUp = false;
  readonly stats = { published: 0, applied: 0, refused: 0, resyncs: 0, outboxDropped: 0 };

  constructor(
    private readonly o: FleetLinkOptions,
    private readonly log: Logger,
  ) {}

  get connected(): boolean {
    return this.up;
  }

  get pending(): number {
    return this.o.outbox.outboxSize;
  }

  start(): void {
    this.writer = createClient(this.o.redis);
    this.reader = createClient(this.o.redis);
    for (const c of [this.writer, this.reader]) c.on('error', (e: Error) => this.lost(e.message));
    this.writer.on('ready', () => void this.flushOutbox());
    void this.writer.connect().catch((e: Error) => this.lost(e.message));
    void this.reader.connect().catch((e: Error) => this.lost(e.message));
    this.reading = this.readLoop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    // No waiting for a Redis that is away: what was not sent is in the outbox.
    for (const c of [this.writer, this.reader]) if (c?.isOpen) c.destroy();
    await this.reading?.catch(() => {});
  }

  /** A decision of this node, for the others: published now, or when Redis is back. */
  publish(entry: FleetEntry): void {
    if (this.up && !this.flushing && this.o.outbox.outboxSize === 0) {
      void this.send(entry).catch((e: Error) => {
        this.keep(entry);
        this.lost(e.message);
      });
      return;
    }
    // Behind what waits already, in order.
    this.keep(entry);
    if (this.up) void this.flushOutbox();
    else this.lost('Redis not connected');
  }

  private keep(entry: FleetEntry): void {
    try {
      this.stats.outboxDropped += this.o.outbox.outboxPush(encodeEntry(entry), MAX_OUTBOX);
    } catch (e) {
      this.log.error({ err: e, prefix: entry.prefix.text }, `fleet: could not keep ${entry.op} ${entry.prefix.text} for Redis (the store refuses writes): the other nodes will not hear of it`);
    }
  }

  private async send(entry: FleetEntry): Promise<void> {
    const w = this.writer!;
    const now = this.o.clock.now();
    const fields = Object.entries(encodeEntry(entry)).flat();
    const multi: string[][] = [['XADD', STREAM, 'MINID', '~', `${Math.max(0, now - this.o.keepMs)}-0`, '*', ...fields]];
    if (entry.op === 'ban') {
      multi.push(['HSET', ACTIVE, entry.prefix.text, JSON.stringify(encodeEntry(entry))]);
      multi.push(['ZADD', EXPIRY, entry.until === null ? '+inf' : String(entry.until), entry.prefix.text]);
    } else {
      multi.push(['HDEL', ACTIVE, entry.prefix.text], ['ZREM', EXPIRY, entry.prefix.text]);
    }
    await transaction(w, multi);
    this.stats.published++;
    // Bans that ended leave the hash, a few per publish: bounded work, bounded hash.
    const ended = (await w.sendCommand(['ZRANGEBYSCORE', EXPIRY, '-inf', String(now), 'LIMIT', '0', '100'])) as string[];
    if (ended.length > 0) await transaction(w, [['HDEL', ACTIVE, ...ended], ['ZREM', EXPIRY, ...ended]]);
  }

  /** The outbox, oldest first, one at a time (order matters: a ban, then its unban). */
  private async flushOutbox(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      for (let next = this.o.outbox.outboxFirst(1)[0]; next !== undefined && !this.stopped; next = this.o.outbox.outboxFirst(1)[0]) {
        const parsed = parseEntry(next.fields, this.o.widest);
        if (parsed.ok) {
          try {
            await this.send(parsed.entry);
          } catch (e) {
            this.lost((e as Error).message);
            return;
          }
        } else {
          this.log.warn({ reason: parsed.reason }, `fleet: dropped a kept decision that cannot be published: ${parsed.reason}`);
        }
        this.o.outbox.outboxDrop(next.id);
      }
    } finally {
      this.flushing = false;
    }
  }

  private lost(detail: string): void {
    this.checkCursor = true;
    if (!this.up) return;
    this.up = false;
    this.o.onLink(false, detail);
  }

  private found(): void {
    if (this.up) return;
    this.up = true;
    this.o.onLink(true, this.everUp ? 'connected again' : 'connected');
    this.everUp = true;
    void this.flushOutbox();
  }

  /** Reads the stream for as long as the link runs, resyncing when it must. */
  private async readLoop(): Promise<void> {
    while (!this.stopped) {
      const r = this.reader!;
      if (!r.isReady) {
        await this.o.clock.sleep(100);
        continue;
      }
      try {
        if (this.checkCursor) {
          if (this.cursor === undefined || (await this.trimmedPast(this.cursor))) await this.resync();
          this.checkCursor = false;
        }
        this.found();
        const reply = await r.sendCommand(['XREAD', 'COUNT', String(BATCH), 'BLOCK', '1000', 'STREAMS', STREAM, this.cursor!]);
        for (const [id, flat] of streamEntries(reply)) {
          this.cursor = id;
          this.take(pairs(flat));
        }
      } catch (e) {
        if (this.stopped) return;
        this.lost((e as Error).message);
        await this.o.clock.sleep(200);
      }
    }
  }

  /**
   * Has the stream been trimmed past our cursor (we were away longer than it keeps)? A cursor
   * taken from an empty stream (EMPTY_STREAM) reads whatever comes first: nothing was skipped.
   */
  private async trimmedPast(cursor: string): Promise<boolean> {
    if (cursor === EMPTY_STREAM) return false;
    const first = (await this.reader!.sendCommand(['XRANGE', STREAM, '-', '+', 'COUNT', '1'])) as Array<[string, string[]]>;
    return first.length > 0 && compareIds(first[0]![0], cursor) > 0;
  }

  /** Every ban in force, from the hash; then the stream from where it stood. */
  private async resync(): Promise<void> {
    const r = this.reader!;
    const last = (await r.sendCommand(['XREVRANGE', STREAM, '+', '-', 'COUNT', '1'])) as Array<[string, string[]]>;
    const from = last[0]?.[0] ?? EMPTY_STREAM;
    let scan = '0';
    let bans = 0;
    do {
      const [next, flat] = (await r.sendCommand(['HSCAN', ACTIVE, scan, 'COUNT', String(BATCH)])) as [string, string[]];
      scan = next;
      for (let i = 0; i + 1 < flat.length; i += 2) {
        let fields: Record<string, string>;
        try {
          fields = JSON.parse(flat[i + 1]!) as Record<string, string>;
        } catch {
          this.refuse(`active ban ${JSON.stringify(flat[i]!.slice(0, 64))} is not JSON`);
          continue;
        }
        if (this.take(fields)) bans++;
      }
    } while (scan !== '0' && !this.stopped);
    this.cursor = from;
    this.stats.resyncs++;
    this.log.info({ bans, cursor: from }, `fleet: took ${bans} bans in force from Redis`);
  }

  /** One entry from Redis: applied when it is another node's and acceptable. */
  private take(fields: Record<string, string>): boolean {
    if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) return this.refuse('an entry that is not a set of fields');
    const parsed = parseEntry(fields, this.o.widest);
    if (!parsed.ok) return this.refuse(parsed.reason);
    if (parsed.entry.node === this.o.node) return false;
    if (parsed.entry.op === 'ban' && parsed.entry.until !== null && parsed.entry.until <= this.o.clock.now()) return false;
    this.stats.applied++;
    this.o.onEntry(parsed.entry);
    return true;
  }

  private refuse(reason: string): false {
    this.stats.refused++;
    this.o.onRefused(reason);
    return false;
  }
}

/** Commands applied together or not at all (MULTI/EXEC). */
async function transaction(client: Client, commands: readonly string[][]): Promise<void> {
  const multi = client.multi();
  for (const c of commands) multi.addCommand(c);
  await multi.exec();
}

type StreamEntry = [string, string[]];

/** XREAD's reply, as RESP2 (pairs of stream and entries) or RESP3 (a map) gives it; null: nothing new. */
function streamEntries(reply: unknown): StreamEntry[] {
  if (reply === null || reply === undefined) return [];
  const streams = Array.isArray(reply) ? (reply as Array<[string, StreamEntry[]]>).map(([, e]) => e) : reply instanceof Map ? [...(reply.values() as Iterable<StreamEntry[]>)] : Object.values(reply as Record<string, StreamEntry[]>);
  return streams.flat();
}

function pairs(flat: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
  return out;
}

/** Stream ids `ms-seq`, compared as numbers. */
function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(Number) as [number, number];
  const [bm, bs] = b.split('-').map(Number) as [number, number];
  return am !== bm ? am - bm : as - bs;
}
