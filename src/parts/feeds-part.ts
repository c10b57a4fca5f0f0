import type { Config } from '../config/schema.js';
import type { FeedShare } from '../fleet/feed-share.js';
import { admit } from '../feeds/feed-admission.js';
import { ended, FeedError, refreshFeed, type FeedSpec, type FeedState } from '../feeds/feed-fetch.js';
import { parseIpPrefix, widen, type IpPrefix, type PrefixText } from '../net/ip-prefix.js';
import type { Persister } from '../store/persister.js';
import type { Store } from '../store/store.js';
import { formatDuration } from '../time/duration.js';
import { changedKeys, type DaemonContext, type MetricFamily, type Part, type PartCheck } from './part.js';

type FeedConfig = Config['feeds'][number];

/** How often each kind of feed is asked, by default. */
const DEFAULT_INTERVAL: Readonly<Record<FeedConfig['type'], number>> = { list: 3_600_000, apiban: 300_000, crowdsec: 10_000 };
/** Failed refreshes in a row before one alert. */
const FAILURES_BEFORE_ALERT = 3;
/** How often entries that ended (APIBAN's 7 days, CrowdSec's durations) are taken out between refreshes. */
const SWEEP_MS = 60_000;
/** Refused entries named in the log per feed (the rest are counted). */
const NAMED_REFUSALS = 10;

export interface FeedsPartOptions {
  /** The feeds' entries into the kernel, replacing the last list (kernel part: one transaction, the watch quiet). */
  readonly setListed: (prefixes: readonly PrefixText[]) => Promise<void>;
  /** Between two calls of one APIBAN refresh (tests shorten it). */
  readonly apibanGapMs?: number;
  /** In a fleet: each feed pulled by one node, the list shared over Redis. */
  readonly share?: FeedShare;
}

export interface FeedsPart extends Part {
  /** The feeds that list this address (and the entry that does): `why` says them. */
  listedBy(ip: IpPrefix): Array<{ readonly feed: string; readonly entry: string }>;
}

interface Feed {
  readonly spec: FeedConfig;
  state: FeedState;
  admitted: PrefixText[];
  refused: number;
  overCap: number;
  unreadable: number;
  lastRefresh: number | null;
  lastError: string | null;
  errors: number;
  failingInARow: number;
  alerted: boolean;
  /** Who pulled the list in force: this node, or another of the fleet (its version stamp). */
  from: 'service' | 'fleet';
  sharedStamp: string | undefined;
  cancel: (() => void) | undefined;
}

/**
 * Blocklist feeds (issue 26): each pulled on its own interval, its entries checked as any ban
 * is (allow-list, never-ban list, widest, max_entries), the union of all feeds dropped by the
 * kernel in sets of its own. A feed that fails keeps its last good list, which the store keeps
 * across restarts; after a few failed refreshes in a row the admins hear it once.
 */
export function feedsPart(ctx: DaemonContext, store: { store: Store; persister: Persister }, o: FeedsPartOptions): FeedsPart {
  const { log, clock, bus, core } = ctx;
  const feeds: Feed[] = ctx.config().feeds.map((spec) => ({
    spec,
    state: restore(store.store.cursor(cursorName(spec.name))),
    admitted: [],
    refused: 0,
    overCap: 0,
    unreadable: 0,
    lastRefresh: null,
    lastError: null,
    errors: 0,
    failingInARow: 0,
    alerted: false,
    from: 'service' as const,
    sharedStamp: undefined,
    cancel: undefined,
  }));
  let stopped = false;
  let cancelSweep: (() => void) | undefined;
  let pushing: Promise<void> = Promise.resolve();

  /** Re-checks every feed's entries and gives the kernel their union. */
  const push = () => {
    const now = clock.now();
    const union = new Set<PrefixText>();
    for (const f of feeds) {
      const a = admit(f.state.entries, { now, widest: f.spec.widest, maxEntries: f.spec.max_entries, spared: (p) => core.policy.neverBan.why(p) });
      if (a.refused.length > f.refused) {
        log.warn({ feed: f.spec.name, refused: a.refused.length, entries: a.refused.slice(0, NAMED_REFUSALS).map((r) => `${r.prefix}: ${r.why}`) }, `feed ${f.spec.name}: entries refused (never dropped whatever a feed says)`);
      }
      if (a.overCap > 0 && f.overCap === 0) log.warn({ feed: f.spec.name, max_entries: f.spec.max_entries, over: a.overCap }, `feed ${f.spec.name} lists more than its max_entries; the rest is not dropped`);
      f.admitted = a.admitted;
      f.refused = a.refused.length;
      f.overCap = a.overCap;
      for (const p of a.admitted) union.add(p);
    }
    const listed = [...union];
    pushing = pushing
      .then(() => o.setListed(listed))
      .then(() => void bus.emit('listed', listed.length))
      .catch((e: unknown) => log.error({ err: e }, 'feed entries could not be put into the kernel; retried at the next refresh'));
    return pushing;
  };

  /** The new list in force: kept in the store, into the kernel. */
  const adopt = async (f: Feed, state: FeedState) => {
    f.state = state;
    store.persister.writeLatest(`feed ${f.spec.name}`, () => store.store.setCursor(cursorName(f.spec.name), serialize(state), clock.now()));
    await push();
  };

  /** Another node of the fleet holds this feed's pull: its list, once per version. */
  const readShared = async (f: Feed, share: FeedShare) => {
    const shared = await share.read(f.spec.name);
    f.lastRefresh = clock.now();
    if (shared === undefined || shared.stamp === f.sharedStamp) return;
    f.sharedStamp = shared.stamp;
    f.from = 'fleet';
    await adopt(f, restore(shared.list));
    log.info({ feed: f.spec.name, entries: f.state.entries.size, admitted: f.admitted.length }, `feed ${f.spec.name}: the list another node of the fleet pulled`);
  };

  const refresh = async (f: Feed) => {
    const spec: FeedSpec = f.spec;
    let wait = f.spec.interval ?? DEFAULT_INTERVAL[f.spec.type];
    // Lock for a little less than the interval: the holder's next turn finds it free or its own.
    if (o.share && !(await o.share.claim(f.spec.name, wait * 0.9))) {
      await readShared(f, o.share);
      if (!stopped) f.cancel = clock.after(wait, () => void refresh(f));
      return;
    }
    try {
      const r = await refreshFeed(spec, f.state, { clock, apibanGapMs: o.apibanGapMs ?? 20_000 });
      f.lastRefresh = clock.now();
      f.lastError = null;
      f.unreadable = r.unreadable;
      if (r.unreadable > 0) log.warn({ feed: f.spec.name, unreadable: r.unreadable, first: r.examples.map((e) => `${e.where}: ${e.why}`) }, `feed ${f.spec.name}: entries that are no address, skipped`);
      if (f.alerted) bus.emit('trouble', { kind: 'feed-restored', time: clock.now(), text: `feed ${f.spec.name} refreshes again (${r.state.entries.size} entries)` });
      f.failingInARow = 0;
      f.alerted = false;
      if (!r.unchanged || r.state !== f.state || f.from === 'fleet') {
        f.from = 'service';
        await adopt(f, r.state);
        await o.share?.publish(f.spec.name, { stamp: `${clock.now()}`, list: serialize(r.state) });
      }
      log.info({ feed: f.spec.name, entries: f.state.entries.size, admitted: f.admitted.length, unchanged: r.unchanged }, `feed ${f.spec.name} refreshed`);
    } catch (e) {
      const message = e instanceof FeedError ? e.message : `${(e as Error).message}`;
      f.errors++;
      f.failingInARow++;
      f.lastError = message;
      if (e instanceof FeedError && e.retryAfterMs !== undefined) wait = Math.max(wait, e.retryAfterMs);
      log.warn({ feed: f.spec.name, err: message, failing: f.failingInARow, keeps: f.state.entries.size }, `feed ${f.spec.name} failed; its last good list stays`);
      if (f.failingInARow >= FAILURES_BEFORE_ALERT && !f.alerted) {
        f.alerted = true;
        bus.emit('trouble', { kind: 'feed-failing', time: clock.now(), text: `feed ${f.spec.name} failed ${f.failingInARow} refreshes in a row (${message}); its last good list (${f.state.entries.size} entries) is still dropped` });
      }
    }
    if (!stopped) f.cancel = clock.after(wait, () => void refresh(f));
  };

  const sweep = () => {
    cancelSweep = clock.after(SWEEP_MS, () => {
      const now = clock.now();
      if (feeds.some((f) => someEnded(f.state, now))) void push();
      sweep();
    });
  };

  return {
    name: 'feeds',
    async start() {
      // The last good lists first: a restart drops the listed sources before any feed answers.
      if (feeds.some((f) => f.state.entries.size > 0)) await push();
      for (const f of feeds) void refresh(f);
      sweep();
    },
    async stop() {
      stopped = true;
      cancelSweep?.();
      for (const f of feeds) f.cancel?.();
      await pushing;
      await o.share?.close();
    },
    restartOnly: (running, next) => changedKeys(running, next, ['feeds']),
    // A reloaded allow-list can refuse entries admitted before.
    reload: () => push(),
    listedBy(ip) {
      // Every prefix that holds the address, as text: the entries are kept as text only.
      const holding = new Set(Array.from({ length: ip.length + 1 }, (_, l) => widen(ip, l).text));
      return feeds.flatMap((f) => f.admitted.filter((p) => holding.has(p)).map((p) => ({ feed: f.spec.name, entry: p })));
    },
    status: () => ({
      feeds: feeds.map((f) => ({
        name: f.spec.name,
        type: f.spec.type,
        entries: f.state.entries.size,
        dropped: f.admitted.length,
        refused: f.refused,
        over_max_entries: f.overCap,
        unreadable: f.unreadable,
        last_refresh: f.lastRefresh === null ? null : new Date(f.lastRefresh).toISOString(),
        errors: f.errors,
        last_error: f.lastError,
        every: formatDuration(f.spec.interval ?? DEFAULT_INTERVAL[f.spec.type]),
        pulled_by: f.from === 'service' ? 'this node' : 'another node of the fleet',
      })),
    }),
    checks(): PartCheck[] {
      return feeds.map((f) =>
        f.failingInARow > 0
          ? { check: `feed ${f.spec.name}`, status: 'fail', detail: `${f.failingInARow} refreshes failed in a row: ${f.lastError}; its last good list (${f.state.entries.size}) stays`, fix: `check feeds[].url and key of ${f.spec.name}` }
          : { check: `feed ${f.spec.name}`, status: f.lastRefresh === null ? 'info' : 'ok', detail: f.lastRefresh === null ? 'not refreshed yet' : `${f.admitted.length} entries dropped, ${f.refused} refused, last refreshed ${new Date(f.lastRefresh).toISOString()}` },
      );
    },
    metrics(): MetricFamily[] {
      const per = (read: (f: Feed) => number) => () => feeds.map((f) => [{ feed: f.spec.name }, read(f)] as const);
      return [
        { name: 'asterisk_guard_feed_entries', help: "Entries of a feed dropped in the kernel", type: 'gauge', labels: ['feed'], read: per((f) => f.admitted.length) },
        { name: 'asterisk_guard_feed_refused', help: 'Entries of a feed refused (allow-list, never-ban list, wider than widest)', type: 'gauge', labels: ['feed'], read: per((f) => f.refused) },
        { name: 'asterisk_guard_feed_errors_total', help: 'Failed refreshes of a feed', type: 'counter', labels: ['feed'], read: per((f) => f.errors) },
        { name: 'asterisk_guard_feed_last_refresh_seconds', help: 'When a feed last refreshed (unix time; 0: never)', type: 'gauge', labels: ['feed'], read: per((f) => (f.lastRefresh ?? 0) / 1000) },
      ];
    },
  };
}

const cursorName = (feed: string) => `feed:${feed}`;

function someEnded(state: FeedState, now: number): boolean {
  for (const end of state.entries.values()) if (ended(end, now)) return true;
  return false;
}

/** A feed's list as the store keeps it: its cursor and `[prefix, end minute]` pairs. */
function serialize(state: FeedState): string {
  return JSON.stringify({ cursor: state.cursor, entries: [...state.entries] });
}

/** The list the store kept; an entry it cannot read is left out, a row it cannot read is an empty list. */
export function restore(text: string | undefined): FeedState {
  const empty: FeedState = { entries: new Map(), cursor: {} };
  if (text === undefined) return empty;
  try {
    const o = JSON.parse(text) as { cursor?: unknown; entries?: unknown };
    const cursor = typeof o.cursor === 'object' && o.cursor !== null ? Object.fromEntries(Object.entries(o.cursor).filter(([, v]) => typeof v === 'string')) : {};
    const entries = new Map<PrefixText, number>();
    for (const e of Array.isArray(o.entries) ? o.entries : []) {
      if (!Array.isArray(e) || typeof e[0] !== 'string' || !Number.isSafeInteger(e[1])) continue;
      const p = parseIpPrefix(e[0]);
      if (p.ok) entries.set(p.value.text, e[1] as number);
    }
    return { entries, cursor: cursor as Record<string, string> };
  } catch {
    return empty;
  }
}
