import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { guardHandler, type Guard } from '../control/guard.js';
import { requestSchema, type Request } from '../control/protocol.js';
import { isGuardError } from '../errors.js';
import type { BanColumns } from '../ledger/ban-ledger.js';
import type { Activity } from './activity.js';
import { MAX_PAGE, queryBans, type BanSortKey } from './bans-query.js';
import type { LiveFeed } from './live-feed.js';
import type { Asset } from './web-assets.js';
import { SESSION_COOKIE, SESSION_IDLE_MS, type Refusal, type WebAccess } from './web-access.js';

// The page's HTTP side: its files, a JSON API over the same Guard facade the CLI's admin
// socket uses (every change audited as made on the web), and the live feed.

export interface WebDeps {
  readonly access: WebAccess;
  /** The Guard facade, its changes audited as made on the web. */
  readonly guard: () => Guard;
  readonly columns: (now: number) => BanColumns;
  readonly activity: Activity;
  readonly feed: LiveFeed;
  readonly assets: ReadonlyMap<string, Asset>;
  readonly now: () => number;
  readonly log: Logger;
}

const MAX_BODY = 64 * 1024;
const SORTS: ReadonlySet<string> = new Set<BanSortKey>(['since', 'until', 'prefix', 'reason']);
/** The admin socket's commands the page may send as changes (POST /api/NAME with the rest of the request as its body). */
const CHANGES: ReadonlySet<string> = new Set(['ban', 'unban', 'allow', 'disallow', 'fraud']);

const SECURITY_HEADERS = {
  'Content-Security-Policy': "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'",
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
} as const;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function webHandler(d: WebDeps): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    serve(d, guardHandler(d.guard()), req, res).catch((e: unknown) => {
      const known = e instanceof HttpError || isGuardError(e);
      if (!known) d.log.error({ err: e, url: req.url }, 'web: a request failed');
      const status = e instanceof HttpError ? e.status : isGuardError(e) ? (/is not (banned|on|known|blocked)/.test(e.message) ? 404 : 400) : 500;
      const code = isGuardError(e) ? e.code : known ? 'AG_ERR_WEB_REQUEST' : 'AG_ERR_WEB_INTERNAL';
      if (!res.headersSent) sendJson(res, status, { error: { code, message: known ? (e as Error).message : 'internal error: see the daemon log' } });
      else res.destroy();
    });
  };
}

async function serve(d: WebDeps, run: (r: Request) => Promise<unknown>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const now = d.now();
  const refused = d.access.checkHost(req.headers.host);
  if (refused) return refuse(res, refused);
  const url = new URL(req.url ?? '/', 'http://page');
  const method = req.method ?? 'GET';

  if (url.pathname === '/login' && method === 'GET') {
    const session = d.access.login(url.searchParams.get('token') ?? '', now);
    if (session === undefined) return sendText(res, 401, 'This login link is unknown, used or expired: run `asterisk-guard web-url` again for a new one.');
    res.writeHead(303, { Location: '/', 'Set-Cookie': `${SESSION_COOKIE}=${session}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${SESSION_IDLE_MS / 1000}`, 'Cache-Control': 'no-store' });
    return void res.end();
  }
  const noSession = d.access.checkSession(req.headers.cookie, now);
  if (noSession) return url.pathname.startsWith('/api/') ? refuse(res, noSession) : sendText(res, 401, `asterisk-guard: ${noSession.message}.`);

  if (method === 'POST') {
    const notHere = d.access.checkChange(req.headers);
    if (notHere) return refuse(res, notHere);
    const body = await readJson(req);
    if (url.pathname === '/api/logout') {
      d.access.logout(req.headers.cookie);
      res.writeHead(204, { 'Set-Cookie': `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0` });
      return void res.end();
    }
    const cmd = url.pathname.slice('/api/'.length);
    if (!url.pathname.startsWith('/api/') || !CHANGES.has(cmd)) throw new HttpError(404, `no change ${url.pathname} here`);
    return sendJson(res, 200, await run(parse({ ...body, cmd })));
  }
  if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, `${method} is not used here`);

  const asset = d.assets.get(url.pathname);
  if (asset) return sendAsset(req, res, asset);
  switch (url.pathname) {
    case '/api/status':
      return sendJson(res, 200, { ...((await run({ cmd: 'status' })) as object), web: { sessions: d.access.sessionCount, live_readers: d.feed.size, bans_last_24h: d.activity.series(now, 1440).reduce((n, p) => n + p.bans, 0) } });
    case '/api/bans':
      return sendJson(res, 200, bansPage(d, url.searchParams, now));
    case '/api/bans/export':
      return exportBans(d, url.searchParams.get('format'), now, res);
    case '/api/why':
      return sendJson(res, 200, await run(parse({ cmd: 'why', address: url.searchParams.get('address') ?? '' })));
    case '/api/activity': {
      const minutes = boundedInt(url.searchParams.get('minutes'), 60, 1, 1440, 'minutes');
      return sendJson(res, 200, { series: d.activity.series(now, minutes), top: d.activity.top(now, Math.ceil(minutes / 60), 10) });
    }
    case '/api/fraud':
      return sendJson(res, 200, await run({ cmd: 'fraud', action: 'list' }).catch((e: unknown) => (isGuardError(e) ? { off: e.message } : Promise.reject(e))));
    case '/api/live':
      if (!d.feed.add(res)) throw new HttpError(503, 'too many live feeds are open: close a tab');
      return;
  }
  throw new HttpError(404, `nothing at ${url.pathname}`);
}

function bansPage(d: WebDeps, p: URLSearchParams, now: number) {
  const sort = p.get('sort') ?? 'since';
  if (!SORTS.has(sort)) throw new HttpError(400, `sort=${JSON.stringify(sort)}: one of ${[...SORTS].join(', ')}`);
  const q = p.get('q') ?? '';
  if (q.length > 200) throw new HttpError(400, 'q: at most 200 characters');
  const page = queryBans(d.columns(now), {
    q,
    sort: sort as BanSortKey,
    descending: (p.get('dir') ?? 'desc') !== 'asc',
    offset: boundedInt(p.get('offset'), 0, 0, 100_000_000, 'offset'),
    limit: boundedInt(p.get('limit'), 50, 1, MAX_PAGE, 'limit'),
  });
  return { total: page.total, rows: page.rows.map((b) => ({ prefix: b.prefix.text, since: b.since, until: b.until, reason: b.reason, origin: b.origin, step: b.step })) };
}

/** All bans in force, as the CLI's export (JSON, importable) or CSV, streamed a chunk at a time. */
async function exportBans(d: WebDeps, format: string | null, now: number, res: ServerResponse): Promise<void> {
  if (format !== 'json' && format !== 'csv') throw new HttpError(400, 'format=json or format=csv');
  const c = d.columns(now);
  const stamp = new Date(now).toISOString().slice(0, 19).replace(/:/g, '');
  res.writeHead(200, {
    'Content-Type': format === 'json' ? 'application/json' : 'text/csv; charset=utf-8',
    'Content-Disposition': `attachment; filename="asterisk-guard-bans-${stamp}.${format}"`,
    'Cache-Control': 'no-store',
  });
  res.write(format === 'json' ? '{"bans":[' : 'prefix,since,until,reason,origin,step\n');
  let first = true;
  let chunk: string[] = [];
  const flush = async () => {
    if (!res.write(chunk.join(''))) await new Promise<void>((r) => res.once('drain', () => r()));
    chunk = [];
  };
  for (let slot = 0; slot < c.slotCount; slot++) {
    if (!c.live(slot)) continue;
    const b = c.ban(slot);
    chunk.push(
      format === 'json'
        ? `${first ? '' : ','}\n${JSON.stringify({ prefix: b.prefix.text, until: b.until, reason: b.reason })}`
        : `${b.prefix.text},${new Date(b.since).toISOString()},${b.until === null ? 'permanent' : new Date(b.until).toISOString()},${csvField(String(b.reason))},${b.origin},${b.step}\n`,
    );
    first = false;
    if (chunk.length >= 5000) await flush();
  }
  await flush();
  res.end(format === 'json' ? '\n]}\n' : '');
}

/** A CSV field: quoted when it holds a separator, a quote or a line break; a leading = + - @ is defused for spreadsheets. */
function csvField(text: string): string {
  const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

function parse(raw: Record<string, unknown>): Request {
  const r = requestSchema.safeParse(raw);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  throw new HttpError(400, `${issue.path.join('.') || 'request'}: ${issue.message}`);
}

function boundedInt(text: string | null, fallback: number, min: number, max: number, name: string): number {
  if (text === null || text === '') return fallback;
  if (!/^\d{1,10}$/.test(text) || Number(text) < min || Number(text) > max) throw new HttpError(400, `${name}=${JSON.stringify(text.slice(0, 20))}: a whole number from ${min} to ${max}`);
  return Number(text);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, `a change's body is at most ${MAX_BODY} bytes`);
    parts.push(chunk as Buffer);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(parts).toString('utf8'));
  } catch (e) {
    throw new HttpError(400, `the body is not JSON: ${(e as Error).message}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, 'the body is a JSON object');
  if ('cmd' in body) throw new HttpError(400, 'the body names no cmd: the URL does');
  return body as Record<string, unknown>;
}

function sendAsset(req: IncomingMessage, res: ServerResponse, asset: Asset): void {
  if (req.headers['if-none-match'] === asset.etag) {
    res.writeHead(304, { ETag: asset.etag });
    return void res.end();
  }
  res.writeHead(200, { 'Content-Type': asset.type, ETag: asset.etag, 'Cache-Control': 'no-cache' });
  res.end(req.method === 'HEAD' ? undefined : asset.body);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
  res.end(JSON.stringify(body));
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(`${text}\n`);
}

function refuse(res: ServerResponse, r: Refusal): void {
  sendJson(res, r.status, { error: { code: 'AG_ERR_WEB_REFUSED', message: r.message } });
}
