import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { createClient, ErrorReply, TimeoutError, type RedisClientOptions } from 'redis';
import type { Store } from '../store/store.js';
import type { Clock } from '../time/clock.js';
import { Doorbell, NoAnswer } from './doorbell.js';
import { encodeEntry, FIELDS, MAX_VALUE, parseEntry, type FleetEntry, type FleetWidest } from './fleet-entry.js';
import { PUBLISH, READ, SCAN_ACTIVE } from './fleet-scripts.js';

/** What the link noticed in Redis that no node of ours would write: someone else holds the password, or a second node has our name. */
export type FleetTrouble = 'tampered' | 'twin' | 'write-refused';

export interface FleetLinkOptions {
  /** redis:// or rediss:// (TLS), user and password in the URL (a Redis ACL user): see redis-options.ts. */
  readonly redis: RedisClientOptions;
  /** This node's name: its own entries are not applied again. */
  readonly node: string;
  readonly widest: FleetWidest;
  /** How long the stream keeps entries: a node away longer resyncs from the active bans. */
  readonly keepMs: number;
  readonly clock: Clock;
  /** Where decisions wait until Redis has them: the store, so a SIGKILL meanwhile loses none. */
  readonly outbox: Pick<Store, 'outboxPush' | 'outboxFirst' | 'outboxDropThrough' | 'outboxSize'>;
  /** Another node's ban or unban, checked. */
  readonly onEntry: (entry: FleetEntry) => void;
  /** Something in Redis that is not an entry we accept (counted and logged, never applied). */
  readonly onRefused: (reason: string) => void;
  /** The link was lost, or is back. */
  readonly onLink: (up: boolean, detail: string) => void;
  readonly onTrouble: (kind: FleetTrouble, text: string) => void;
}

// One hash tag: every key of the fleet lives in one Redis Cluster slot (the scripts touch several).
const STREAM = 'asterisk-guard:{fleet}:bans';
const ACTIVE = 'asterisk-guard:{fleet}:active';
const EXPIRY = 'asterisk-guard:{fleet}:expiry';
const NAME = (node: string) => `asterisk-guard:{fleet}:node:${node}`;
/** The cursor of a node that found the stream empty: every entry comes after it. */
const EMPTY_STREAM = '0-0';
/** Entries read per READ, and active bans per HSCAN step. */
const BATCH = 1000;
/** Kept decisions published per PUBLISH. */
const PUBLISH_BATCH = 200;
/** Decisions kept while Redis is away, then published in order; beyond it the oldest go. */
const MAX_OUTBOX = 1_000_000;
/** Any command: past it Redis is taken as stalled (`kill -STOP`), and the link starts again. */
const COMMAND_TIMEOUT_MS = 2000;
/** How long the doorbell blocks; the READ after it also renews this node's name. */
const BLOCK_MS = 1000;
/** How long this node's name key outlives its last READ: a restarted node is not its own twin. */
const NAME_TTL_MS = 5000;
/** A stream id further ahead of now than this was made up by hand (clocks in a fleet differ by seconds). */
const MAX_AHEAD_MS = 86_400_000;
/** The longest active-ban value a node writes (its entry as JSON), with room. */
const MAX_ACTIVE_VALUE = 512;
/** Back-off after Redis refused a write (NOPERM, OOM): no tight loop of refusals. */
const REFUSED_RETRY_MS = 1000;

type Client = ReturnType<typeof createClient>;

/**
 * The fleet over Redis. Every node bans locally first and publishes after (no added latency on
 * the event → kernel path): an append-only stream carries bans and unbans, a hash holds the
 * bans in force (with a sorted set of their ends, pruned as nodes publish). A node reads the
 * stream from its cursor; one that starts, was away longer than the stream keeps, or sees the
 * stream go back (deleted, recreated), first takes every ban in force from the hash. Every
 * decision is kept in the store's outbox until Redis has it, and goes out in order; applying
 * an entry twice changes nothing (the ledger).
 *
 * Redis is untrusted input (any PBX of the fleet holds its password): reads and writes are Lua
 * scripts that judge sizes and key types inside Redis (fleet-scripts.ts), the wait for new
 * entries receives none of them (doorbell.ts), and every command has a timeout, so a stalled
 * Redis is noticed and the link starts again.
 */
export class FleetLink {
  private writer: Client | undefined;
  private reader: Client | undefined;
  private bell: Doorbell | undefined;
  private cursor: string | undefined;
  private up = false;
  private stopped = false;
  private reading: Promise<void> | undefined;
  /** After a start or a lost link: was the stream trimmed past the cursor meanwhile? */
  private checkCursor = true;
  /** The outbox is being published: new decisions queue behind it. */
  private flushing = false;
  private everUp = false;
  /** Decisions of this tick, saved to the outbox together on the next. */
  private fresh: Array<Record<string, string>> = [];
  /**
   * Decisions the store refused to keep (its disk full, its file gone): published from memory,
   * after the stored ones and in order, rather than never (the soak found them dropped). Later
   * decisions queue here too until it is empty, so the order holds.
   */
  private unstored: Array<Record<string, string>> = [];
  private readonly instance = randomUUID();
  /** Our name key was ours after the previous READ: a foreign holder now is a running twin. */
  private named = false;
  private refusedUntil = 0;
  readonly stats = { published: 0, applied: 0, refused: 0, resyncs: 0, outboxDropped: 0, restarts: 0 };

  constructor(
    private readonly o: FleetLinkOptions,
    private readonly log: Logger,
  ) {}

  get connected(): boolean {
    return this.up;
  }

  get pending(): number {
    return this.o.outbox.outboxSize + this.unstored.length + this.fresh.length;
  }

  start(): void {
    this.connect();
    this.reading = this.readLoop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.save();
    this.disconnect();
    await this.reading?.catch(() => {});
  }

  /** A decision of this node, for the others: kept in the outbox until Redis has it. */
  publish(entry: FleetEntry): void {
    // One transaction per tick, not one per ban: an import of a million stays cheap.
    if (this.fresh.length === 0) setImmediate(() => this.save());
    this.fresh.push(encodeEntry(entry));
  }

  private save(): void {
    if (this.fresh.length === 0) return;
    const entries = this.fresh;
    this.fresh = [];
    if (this.unstored.length > 0) this.keepInMemory(entries);
    else {
      try {
        this.stats.outboxDropped += this.o.outbox.outboxPush(entries, MAX_OUTBOX);
      } catch (e) {
        this.log.error({ err: e, entries: entries.length }, `fleet: the store refuses to keep ${entries.length} decisions for Redis: they wait in memory (lost if the daemon stops before Redis has them)`);
        this.keepInMemory(entries);
      }
    }
    if (this.up) void this.flushOutbox();
  }

  private keepInMemory(entries: ReadonlyArray<Record<string, string>>): void {
    this.unstored.push(...entries);
    const over = this.unstored.length - MAX_OUTBOX;
    if (over > 0) {
      this.unstored.splice(0, over);
      this.stats.outboxDropped += over;
    }
  }

  private connect(): void {
    const options = { ...this.o.redis, commandOptions: { timeout: COMMAND_TIMEOUT_MS } };
    this.writer = createClient(options);
    this.reader = createClient(options);
    this.bell = new Doorbell(this.o.redis, STREAM, COMMAND_TIMEOUT_MS);
    for (const c of [this.writer, this.reader]) {
      c.on('error', (e: Error) => this.lost(e.message));
      void c.connect().catch((e: Error) => this.lost(e.message));
    }
    this.writer.on('ready', () => void this.flushOutbox());
  }

  private disconnect(): void {
    for (const c of [this.writer, this.reader]) if (c?.isOpen) c.destroy();
    this.bell?.close();
  }

  /** Redis took no answer in time: its connections may hold commands that never return. */
  private restart(detail: string): void {
    this.lost(detail);
    if (this.stopped) return;
    this.stats.restarts++;
    this.disconnect();
    this.connect();
  }

  /** The outbox, oldest first, in batches (order matters: a ban, then its unban). */
  private async flushOutbox(): Promise<void> {
    if (this.flushing || !this.writer?.isReady || this.o.clock.now() < this.refusedUntil) return;
    this.flushing = true;
    try {
      for (let batch = this.o.outbox.outboxFirst(PUBLISH_BATCH); batch.length > 0 && !this.stopped; batch = this.o.outbox.outboxFirst(PUBLISH_BATCH)) {
        const entries: string[] = [];
        for (const kept of batch) {
          const parsed = parseEntry(kept.fields, this.o.widest);
          if (parsed.ok) entries.push(JSON.stringify(encodeEntry(parsed.entry)));
          else this.log.warn({ reason: parsed.reason }, `fleet: dropped a kept decision that cannot be published: ${parsed.reason}`);
        }
        if (!(await this.publishBatch(entries))) return;
        this.o.outbox.outboxDropThrough(batch[batch.length - 1]!.id);
      }
      while (this.unstored.length > 0 && !this.stopped) {
        const batch = this.unstored.slice(0, PUBLISH_BATCH);
        if (!(await this.publishBatch(batch.map((e) => JSON.stringify(e))))) return;
        this.unstored.splice(0, batch.length);
      }
    } finally {
      this.flushing = false;
    }
  }

  /** One batch of encoded entries into Redis; false when it was not taken (said, retried later). */
  private async publishBatch(entries: readonly string[]): Promise<boolean> {
    const now = this.o.clock.now();
    try {
      const repaired = (await this.writer!.sendCommand(['EVAL', PUBLISH, '3', STREAM, ACTIVE, EXPIRY, String(now), `${Math.max(0, now - this.o.keepMs)}-0`, String(MAX_AHEAD_MS), ...entries])) as string[];
      this.repaired(repaired);
    } catch (e) {
      this.failed(e as Error, 'publish');
      return false;
    }
    this.stats.published += entries.length;
    return true;
  }

  /**
   * A command failed: Redis refusing it (an ACL without scripting, out of memory) is said once
   * and retried later, without taking the link down; no answer in time restarts the link; a
   * lost connection is the client's to re-establish.
   */
  private failed(e: Error, what: 'publish' | 'read'): void {
    if (e instanceof ErrorReply) {
      if (what === 'publish') {
        this.refusedUntil = this.o.clock.now() + REFUSED_RETRY_MS;
        setTimeout(() => void this.flushOutbox(), REFUSED_RETRY_MS).unref();
      }
      this.o.onTrouble('write-refused', `Redis refuses this node's ${what === 'publish' ? 'writes' : 'reads'}: ${e.message.slice(0, 200)}; decisions wait in the outbox. Check the ACL (docs/fleet.md) and Redis's memory`);
      return;
    }
    if (e instanceof TimeoutError || e instanceof NoAnswer) this.restart(`Redis did not answer within ${COMMAND_TIMEOUT_MS} ms (stalled?)`);
    else this.lost(e.message);
  }

  private repaired(repairs: readonly string[]): void {
    for (const r of repairs) this.o.onTrouble('tampered', `fleet key ${r}: no node writes that; deleted it. Someone else holds the fleet's Redis password`);
  }

  private lost(detail: string): void {
    this.checkCursor = true;
    this.named = false;
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

  /** Reads the stream for as long as the link runs: a READ, then the doorbell until more comes. */
  private async readLoop(): Promise<void> {
    while (!this.stopped) {
      if (!this.reader?.isReady) {
        await this.o.clock.sleep(100);
        continue;
      }
      try {
        if (this.cursor === undefined) await this.resync();
        const more = await this.read();
        this.found();
        if (!more) await this.bell!.wait(this.cursor!, BLOCK_MS);
      } catch (e) {
        if (this.stopped) return;
        this.failed(e as Error, 'read');
        await this.o.clock.sleep(200);
      }
    }
  }

  /** One READ from the cursor: true when a full batch came (read again at once). */
  private async read(): Promise<boolean> {
    const [first, last, held, repairs, entries] = await this.readScript(this.cursor!, BATCH);
    this.repaired(repairs);
    this.noteName(held);
    const cursor = this.cursor!;
    // The stream went back: deleted or recreated, its ids now lie before our cursor.
    if (cursor !== EMPTY_STREAM && (last === '' || compareIds(last, cursor) < 0)) {
      this.o.onTrouble('tampered', `the fleet's stream went back (its last id ${last || 'none'}, this node had read up to ${cursor}): deleted or recreated by hand. Took the bans in force again`);
      await this.resync();
      return true;
    }
    // Away longer than the stream keeps: what was trimmed meanwhile is only in the hash.
    if (this.checkCursor && cursor !== EMPTY_STREAM && first !== '' && compareIds(first, cursor) > 0) {
      this.checkCursor = false;
      await this.resync();
      return true;
    }
    this.checkCursor = false;
    for (const [id, flat] of entries) {
      this.cursor = id;
      if (flat[0] === '!') this.refuse(`entry ${id}: ${flat[1]} (a node writes ${FIELDS.size} fields of at most ${MAX_VALUE} characters)`);
      else this.take(pairs(flat));
    }
    return entries.length === BATCH;
  }

  /** The READ script: up to `count` entries after `cursor`, with the stream's first and last ids (fleet-scripts.ts). */
  private async readScript(cursor: string, count: number): Promise<[string, string, string, string[], Array<[string, string[]]>]> {
    const args = [cursor, String(count), String(MAX_VALUE), String(FIELDS.size), this.instance, String(NAME_TTL_MS)];
    return (await this.reader!.sendCommand(['EVAL', READ, '2', STREAM, NAME(this.o.node), ...args])) as [string, string, string, string[], Array<[string, string[]]>];
  }

  /** Two running nodes with one name ignore each other's entries: say so (cloned images share a host name). */
  private noteName(held: string): void {
    if (held !== '' && held !== this.instance && this.named) {
      this.o.onTrouble('twin', `another running node calls itself ${this.o.node}: the two ignore each other's bans. Give each node its own fleet.node`);
    }
    this.named = true;
  }

  /** Every ban in force, from the hash; then the stream from where it stood. */
  private async resync(): Promise<void> {
    const r = this.reader!;
    const before = await this.readScript(EMPTY_STREAM, 0);
    this.repaired(before[3]);
    const from = before[1] || EMPTY_STREAM;
    let scan = '0';
    let bans = 0;
    do {
      const [next, flat, skipped, repairs] = (await r.sendCommand(['EVAL', SCAN_ACTIVE, '1', ACTIVE, scan, String(BATCH), String(MAX_ACTIVE_VALUE)])) as [string, string[], number, string[]];
      this.repaired(repairs);
      scan = next;
      for (let n = 0; n < Number(skipped); n++) this.refuse(`an active ban longer than ${MAX_ACTIVE_VALUE} characters`);
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
    this.checkCursor = false;
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

function pairs(flat: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
  return out;
}

/** Stream ids `ms-seq`, compared as numbers (BigInt: an id made up by hand may exceed 2^53). */
export function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map((x) => BigInt(/^\d+$/.test(x) ? x : '0'));
  const [bm, bs] = b.split('-').map((x) => BigInt(/^\d+$/.test(x) ? x : '0'));
  const d = am! !== bm! ? am! - bm! : (as ?? 0n) - (bs ?? 0n);
  return d === 0n ? 0 : d > 0n ? 1 : -1;
}
