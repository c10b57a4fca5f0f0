import { reportOf, type AbuseReport } from '../feeds/abuse-report.js';
import type { Persister } from '../store/persister.js';
import type { Store } from '../store/store.js';
import { changedKeys, type DaemonContext, type MetricFamily, type Part, type PartCheck } from './part.js';

/** AbuseIPDB takes one report per address per 15 minutes from a reporter. */
const PER_ADDRESS_MS = 15 * 60_000;
/** Reports waiting at most; past it the newest are counted, not sent (a swarm of 10,000). */
const MAX_QUEUED = 1000;
/** A report that could not be sent (AbuseIPDB unreachable, 5xx) is tried this often. */
const ATTEMPTS = 3;
const RETRY_MS = 60_000;
const TIMEOUT_MS = 30_000;
const CURSOR = 'abuseipdb';

interface Sent {
  /** The UTC day the budget counts (YYYY-MM-DD). */
  day: string;
  sent: number;
  /** Address → when it was last reported, for the last PER_ADDRESS_MS. */
  recent: Record<string, number>;
}

/**
 * Abuse reports to AbuseIPDB (issue 26, opt-in): each ban the guard decided itself, for a single
 * public address, at most once per address per 15 minutes and within a daily budget; what was
 * sent and when survives a restart (the store), so a restart reports nothing twice. A 429 with
 * Retry-After pauses the reports until then; a refused key alerts the admins once.
 */
export function abuseReportPart(ctx: DaemonContext, store: { store: Store; persister: Persister }): Part {
  const { log, clock, bus } = ctx;
  const config = () => ctx.config().abuseipdb!;
  const state = restoreSent(store.store.cursor(CURSOR));
  const queue: Array<{ report: AbuseReport; attempts: number }> = [];
  const counts = { sent: 0, skipped: 0, refused: 0, overBudget: 0, dropped: 0 };
  let lastError: string | null = null;
  let keyRefused = false;
  let pausedUntil = 0;
  let sending = false;
  let stopped = false;
  let cancelWake: (() => void) | undefined;

  const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  const persist = () => store.persister.writeLatest('abuse reports', () => store.store.setCursor(CURSOR, JSON.stringify(state), clock.now()));

  bus.on('committed', (d) => {
    const r = reportOf(d);
    if ('skip' in r) return void counts.skipped++;
    const now = clock.now();
    const last = state.recent[r.report.ip];
    if ((last !== undefined && now - last < PER_ADDRESS_MS) || queue.some((q) => q.report.ip === r.report.ip)) return void counts.skipped++;
    if (queue.length >= MAX_QUEUED) return void counts.dropped++;
    queue.push({ report: r.report, attempts: 0 });
    kick();
  });

  const kick = () => {
    if (sending || stopped || queue.length === 0) return;
    const now = clock.now();
    if (now < pausedUntil) {
      cancelWake ??= clock.after(pausedUntil - now, () => {
        cancelWake = undefined;
        kick();
      });
      return;
    }
    if (dayOf(now) !== state.day) {
      state.day = dayOf(now);
      state.sent = 0;
    }
    if (state.sent >= config().daily_budget) {
      if (counts.overBudget === 0) log.warn({ daily_budget: config().daily_budget }, `abuseipdb: today's budget of ${config().daily_budget} reports is spent; further bans today are not reported (abuseipdb.daily_budget)`);
      counts.overBudget += queue.length;
      queue.length = 0;
      return;
    }
    sending = true;
    void send(queue[0]!).finally(() => {
      sending = false;
      kick();
    });
  };

  const send = async (item: { report: AbuseReport; attempts: number }) => {
    const { report } = item;
    item.attempts++;
    let res: Response;
    let body = '';
    try {
      res = await fetch(config().url, {
        method: 'POST',
        headers: { Key: config().key, Accept: 'application/json', 'Content-Type': 'application/x-www-form-urlencoded', 'User-Agent': 'asterisk-guard' },
        body: new URLSearchParams({ ip: report.ip, categories: report.categories.join(','), comment: report.comment, timestamp: report.timestamp }).toString(),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      body = await res.text();
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause;
      return retryOrDrop(item, `${config().url}: ${cause?.code ?? (e as Error).message}`);
    }
    const detail = errorDetail(body) ?? `HTTP ${res.status}`;
    const now = clock.now();
    if (res.ok) {
      queue.shift();
      state.sent++;
      counts.sent++;
      state.recent[report.ip] = now;
      for (const [ip, at] of Object.entries(state.recent)) if (now - at >= PER_ADDRESS_MS) delete state.recent[ip];
      persist();
      lastError = null;
      log.info({ ip: report.ip, categories: report.categories }, `abuseipdb: reported ${report.ip}`);
      return;
    }
    lastError = `HTTP ${res.status}: ${detail}`;
    const retryAfter = Number(res.headers.get('retry-after'));
    if (res.status === 429 && Number.isFinite(retryAfter) && retryAfter > 0) {
      // The plan's limit: everything waits, this report first.
      pausedUntil = now + retryAfter * 1000;
      log.warn({ retry_after_s: retryAfter, queued: queue.length }, `abuseipdb: rate limited (${detail}); reports wait ${retryAfter} s`);
      return;
    }
    if (res.status >= 500) return retryOrDrop(item, lastError);
    queue.shift();
    if (res.status === 429) {
      // Reported by us within 15 minutes (before a restart that lost its record): nothing to do.
      state.recent[report.ip] = now;
      counts.skipped++;
      return;
    }
    counts.refused++;
    if ((res.status === 401 || res.status === 403) && !keyRefused) {
      keyRefused = true;
      const text = `abuseipdb refused the key (HTTP ${res.status}: ${detail}): no ban is reported until abuseipdb.key is fixed`;
      log.error({ status: res.status }, text);
      bus.emit('trouble', { kind: 'abuse-report-refused', time: now, text });
    } else {
      log.warn({ ip: report.ip, status: res.status, detail }, `abuseipdb refused the report of ${report.ip}: ${detail}`);
    }
  };

  /** The report at the head of the queue failed on the way: tried again later, or given up. */
  const retryOrDrop = (item: { report: AbuseReport; attempts: number }, why: string) => {
    lastError = why;
    if (item.attempts >= ATTEMPTS) {
      queue.shift();
      counts.dropped++;
      log.warn({ ip: item.report.ip, err: why }, `abuseipdb: the report of ${item.report.ip} failed ${ATTEMPTS} times; dropped`);
      return;
    }
    pausedUntil = clock.now() + RETRY_MS;
  };

  return {
    name: 'abuseipdb',
    async start() {
      kick();
    },
    async stop() {
      stopped = true;
      cancelWake?.();
    },
    restartOnly: (running, next) => changedKeys(running, next, ['abuseipdb']),
    status: () => ({
      abuseipdb: { sent_today: dayOf(clock.now()) === state.day ? state.sent : 0, daily_budget: config().daily_budget, sent: counts.sent, queued: queue.length, not_reported: counts.skipped, refused: counts.refused, over_budget: counts.overBudget, dropped: counts.dropped, last_error: lastError },
    }),
    checks(): PartCheck[] {
      return [
        keyRefused
          ? { check: 'abuse reports', status: 'fail', detail: `AbuseIPDB refused the key: ${lastError}`, fix: 'set abuseipdb.key to an APIv2 key from your AbuseIPDB account (API tab)' }
          : { check: 'abuse reports', status: 'ok', detail: `${counts.sent} reported since start, ${state.sent} of ${config().daily_budget} today${lastError ? `; last error: ${lastError}` : ''}` },
      ];
    },
    metrics: (): MetricFamily[] => [
      {
        name: 'asterisk_guard_abuse_reports_total',
        help: 'Bans reported to AbuseIPDB, refused by it, or not sent (budget, queue, failures)',
        type: 'counter',
        labels: ['outcome'],
        read: () => [
          [{ outcome: 'sent' }, counts.sent],
          [{ outcome: 'refused' }, counts.refused],
          [{ outcome: 'over_budget' }, counts.overBudget],
          [{ outcome: 'dropped' }, counts.dropped],
        ],
      },
    ],
  };
}

/** `{"errors":[{"detail": "...", "status": 429}]}`, AbuseIPDB's error body. */
function errorDetail(body: string): string | undefined {
  try {
    const o = JSON.parse(body) as { errors?: Array<{ detail?: unknown }> };
    const d = o.errors?.[0]?.detail;
    return typeof d === 'string' ? d.slice(0, 200) : undefined;
  } catch {
    return undefined;
  }
}

function restoreSent(text: string | undefined): Sent {
  const fresh: Sent = { day: '', sent: 0, recent: {} };
  if (text === undefined) return fresh;
  try {
    const o = JSON.parse(text) as Partial<Sent>;
    const recent = typeof o.recent === 'object' && o.recent !== null ? Object.fromEntries(Object.entries(o.recent).filter(([, v]) => Number.isSafeInteger(v))) : {};
    return { day: typeof o.day === 'string' ? o.day : '', sent: Number.isSafeInteger(o.sent) ? o.sent! : 0, recent };
  } catch {
    return fresh;
  }
}
