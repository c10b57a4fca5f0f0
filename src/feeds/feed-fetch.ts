import type { PrefixText } from '../net/ip-prefix.js';
import type { Clock } from '../time/clock.js';
import { readApibanPage, readDecisionStream, readPlainList, type Skipped } from './feed-formats.js';

// One refresh of one feed, per service: what it asks, what it makes of the answer. The
// entries a feed holds between refreshes (and in the store) are its FeedState.

/**
 * What a feed lists now: each entry's text → the minute it ends (NO_END: when the list drops it).
 * Minutes, not ms: a minute count is a small integer V8 keeps in the map's own slot, a ms time
 * would be one more heap number per entry (benchmark 12: memory per entry); the sweep that
 * ends entries runs once a minute anyway.
 */
export interface FeedState {
  readonly entries: Map<PrefixText, number>;
  /** The service's own cursor: ETag and Last-Modified of a list, APIBAN's last ID. */
  readonly cursor: Readonly<Record<string, string>>;
}

export interface FeedSpec {
  readonly name: string;
  readonly type: 'list' | 'apiban' | 'crowdsec';
  readonly url: string;
  readonly key?: string | undefined;
}

export interface RefreshResult {
  readonly state: FeedState;
  /** Entries the service sent that were no address (counted in the feed's status). */
  readonly unreadable: number;
  readonly examples: readonly Skipped[];
  /** The service said nothing changed (a list's 304, APIBAN's "no new bans" at once). */
  readonly unchanged: boolean;
}

export class FeedError extends Error {
  constructor(
    message: string,
    /** The service asked us to wait this long (429 Retry-After). */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

export const NO_END = 0;

/** The minute (since the epoch) at or after `ms`: the entry's end as FeedState keeps it. */
export const endMinute = (ms: number): number => Math.ceil(ms / 60_000);

/** Has an entry ending at `minute` ended at `now` (ms)? */
export const ended = (minute: number, now: number): boolean => minute !== NO_END && minute * 60_000 <= now;

/** APIBAN sends no deletions: an address ends this long after it was last listed. */
export const APIBAN_KEEP_MS = 7 * 86_400_000;
/** Where APIBAN's list starts (its clients ask for ID 100 first). */
const APIBAN_FIRST_ID = '100';
/** Pages of one APIBAN refresh at most (250 addresses each). */
const APIBAN_MAX_PAGES = 400;
/** A body larger than this is no list we want (a 100,000-line list is about 1.5 MB). */
const MAX_BODY = 32 * 1024 * 1024;
const TIMEOUT_MS = 30_000;

export interface FetchOptions {
  readonly clock: Clock;
  /** Between two calls of one APIBAN refresh: its documented limit is a few calls a minute. */
  readonly apibanGapMs: number;
}

export async function refreshFeed(spec: FeedSpec, previous: FeedState, o: FetchOptions): Promise<RefreshResult> {
  switch (spec.type) {
    case 'list':
      return refreshList(spec, previous);
    case 'apiban':
      return refreshApiban(spec, previous, o);
    case 'crowdsec':
      return refreshCrowdsec(spec, previous, o.clock);
  }
}

async function refreshList(spec: FeedSpec, previous: FeedState): Promise<RefreshResult> {
  const headers: Record<string, string> = {};
  if (previous.cursor['etag']) headers['If-None-Match'] = previous.cursor['etag'];
  if (previous.cursor['last_modified']) headers['If-Modified-Since'] = previous.cursor['last_modified'];
  const res = await get(spec.url, { headers });
  if (res.status === 304) return { state: previous, unreadable: 0, examples: [], unchanged: true };
  if (res.status !== 200) throw new FeedError(`HTTP ${res.status} from ${spec.url}`, res.retryAfterMs);
  const list = readPlainList(res.body);
  if (list.entries.length === 0 && list.skipped > 0) throw new FeedError(`${spec.url} sent no address, ${list.skipped} unreadable lines (first: ${list.examples[0]?.why})`);
  // A list that empties at once is a broken answer (a file half written on their side), not
  // the end of every attack it listed.
  if (list.entries.length === 0 && previous.entries.size > 0) throw new FeedError(`${spec.url} sent an empty list (it held ${previous.entries.size}); the last good list stays`);
  const cursor: Record<string, string> = {};
  if (res.etag) cursor['etag'] = res.etag;
  if (res.lastModified) cursor['last_modified'] = res.lastModified;
  return { state: { entries: new Map(list.entries.map((p) => [p, NO_END])), cursor }, unreadable: list.skipped, examples: list.examples, unchanged: false };
}

async function refreshApiban(spec: FeedSpec, previous: FeedState, o: FetchOptions): Promise<RefreshResult> {
  const entries = new Map(previous.entries);
  // Our list gone (a first start, a deleted store): from the start again.
  let id = entries.size > 0 ? (previous.cursor['id'] ?? APIBAN_FIRST_ID) : APIBAN_FIRST_ID;
  let unreadable = 0;
  const examples: Skipped[] = [];
  let pages = 0;
  for (;;) {
    if (pages > 0 && o.apibanGapMs > 0) await o.clock.sleep(o.apibanGapMs);
    const res = await fetchApiban(spec, id);
    const page = readApibanPage(res.status, res.body, res.retryAfter);
    if (page.kind === 'error') throw new FeedError(`APIBAN: ${page.message}`, page.retryAfterMs);
    if (page.kind === 'end') break;
    pages++;
    const until = endMinute(o.clock.now() + APIBAN_KEEP_MS);
    for (const p of page.list.entries) entries.set(p, until);
    unreadable += page.list.skipped;
    examples.push(...page.list.examples.slice(0, 5 - examples.length));
    if (page.id === id || pages >= APIBAN_MAX_PAGES) break;
    id = page.id;
  }
  return { state: { entries, cursor: { id } }, unreadable, examples, unchanged: pages === 0 };
}

/** `POST /api/get` with the key as a bearer token; the older `GET /api/KEY/banned/ID` for a URL that names it (`.../banned`). */
function fetchApiban(spec: FeedSpec, id: string) {
  const base = spec.url.replace(/\/+$/, '');
  if (base.endsWith('/banned')) return get(`${base.slice(0, -'/banned'.length)}/${encodeURIComponent(spec.key ?? '')}/banned/${encodeURIComponent(id)}`, {});
  return get(`${base}/get`, { method: 'POST', headers: { Authorization: `Bearer ${spec.key ?? ''}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ set: 'sip', id }) });
}

async function refreshCrowdsec(spec: FeedSpec, previous: FeedState, clock: Clock): Promise<RefreshResult> {
  // The first pull (or one after our list was lost) asks for every decision in force.
  const startup = previous.cursor['started'] !== 'yes' || previous.entries.size === 0;
  const res = await get(`${spec.url.replace(/\/+$/, '')}/v1/decisions/stream?startup=${startup}`, { headers: { 'X-Api-Key': spec.key ?? '' } });
  if (res.status !== 200) throw new FeedError(`HTTP ${res.status} from the CrowdSec Local API${res.body ? `: ${res.body.slice(0, 120)}` : ''}`, res.retryAfterMs);
  const stream = readDecisionStream(res.body);
  if ('error' in stream) throw new FeedError(`CrowdSec Local API: ${stream.error}`);
  const entries = startup ? new Map<PrefixText, number>() : new Map(previous.entries);
  for (const p of stream.deleted) entries.delete(p);
  const now = clock.now();
  for (const d of stream.added) entries.set(d.prefix, endMinute(now + d.durationMs));
  return { state: { entries, cursor: { started: 'yes' } }, unreadable: stream.skipped, examples: stream.examples, unchanged: stream.added.length === 0 && stream.deleted.length === 0 && !startup };
}

interface Answer {
  readonly status: number;
  readonly body: string;
  readonly etag: string | null;
  readonly lastModified: string | null;
  readonly retryAfter: string | null;
  readonly retryAfterMs: number | undefined;
}

async function get(url: string, init: { method?: string; headers?: Record<string, string>; body?: string }): Promise<Answer> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, headers: { 'User-Agent': 'asterisk-guard', ...init.headers }, signal: AbortSignal.timeout(TIMEOUT_MS), redirect: 'follow' });
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new FeedError(`${url}: ${cause?.code ?? cause?.message ?? (e as Error).message}`);
  }
  const body = await readCapped(res, url);
  const retryAfter = res.headers.get('retry-after');
  const seconds = retryAfter === null ? NaN : Number(retryAfter);
  return { status: res.status, body, etag: res.headers.get('etag'), lastModified: res.headers.get('last-modified'), retryAfter, retryAfterMs: Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined };
}

async function readCapped(res: Response, url: string): Promise<string> {
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new FeedError(`${url} sent more than ${MAX_BODY / 1024 / 1024} MB: not a list`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
