import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

// Who may use the page, decided per request. Pure except for the random tokens: time comes in.
//
// - A one-time login token (asterisk-guard web-url, asked over the root-only admin socket) is
//   swapped for a session cookie (HttpOnly, SameSite=Strict). Other local users can reach
//   127.0.0.1, so every request but the login carries the cookie.
// - The Host header must name the page (the configured names): a DNS-rebinding page whose
//   name resolves to 127.0.0.1 sends its own name and is refused.
// - A change must come from the page itself: Origin (or, without one, Sec-Fetch-Site) says
//   same origin, and its body is JSON (a cross-site form cannot send that without a preflight,
//   which no CORS header here ever answers).

export const SESSION_COOKIE = 'ag_session';
const TOKEN_TTL_MS = 10 * 60_000;
/** A session lasts this long after its last request. */
export const SESSION_IDLE_MS = 12 * 3600_000;
const MAX_SESSIONS = 64;
const MAX_TOKENS = 16;

/** Stored as their hashes: a heap dump or a timing difference gives no usable secret. */
const digest = (secret: string) => createHash('sha256').update(secret).digest();

export type Refusal = { readonly status: 401 | 403 | 421; readonly message: string };

export class WebAccess {
  private readonly tokens = new Map<string, number>();
  private readonly sessions = new Map<string, number>();

  constructor(
    /** `host:port` forms the Host header may take (lower case). */
    private readonly hosts: ReadonlySet<string>,
  ) {}

  /** A new one-time login token, valid for 10 minutes. */
  mintToken(now: number): string {
    this.prune(now);
    const token = randomBytes(24).toString('base64url');
    this.tokens.set(digest(token).toString('hex'), now + TOKEN_TTL_MS);
    // The oldest unused ones go first: minting cannot grow memory.
    while (this.tokens.size > MAX_TOKENS) this.tokens.delete(this.tokens.keys().next().value!);
    return token;
  }

  /** Swaps a login token (once) for a session id; undefined when the token is unknown, used or expired. */
  login(token: string, now: number): string | undefined {
    if (!/^[A-Za-z0-9_-]{20,64}$/.test(token)) return undefined;
    const key = digest(token).toString('hex');
    const until = this.tokens.get(key);
    this.tokens.delete(key);
    if (until === undefined || until <= now) return undefined;
    const session = randomBytes(32).toString('base64url');
    this.sessions.set(digest(session).toString('hex'), now + SESSION_IDLE_MS);
    while (this.sessions.size > MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    return session;
  }

  logout(cookieHeader: string | undefined): void {
    const session = cookieValue(cookieHeader, SESSION_COOKIE);
    if (session !== undefined) this.sessions.delete(digest(session).toString('hex'));
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** The Host header names this page. */
  checkHost(host: string | undefined): Refusal | undefined {
    if (host !== undefined && this.hosts.has(host.toLowerCase())) return undefined;
    return { status: 421, message: `Host ${JSON.stringify(host ?? '')} is not one of web.hosts (${[...this.hosts].join(', ')}): add the name you use to web.hosts` };
  }

  /** The request carries a live session (extended by it). */
  checkSession(cookieHeader: string | undefined, now: number): Refusal | undefined {
    const session = cookieValue(cookieHeader, SESSION_COOKIE);
    if (session !== undefined && /^[A-Za-z0-9_-]{43}$/.test(session)) {
      const key = digest(session).toString('hex');
      const until = this.sessions.get(key);
      if (until !== undefined && until > now) {
        this.sessions.set(key, now + SESSION_IDLE_MS);
        return undefined;
      }
      this.sessions.delete(key);
    }
    return { status: 401, message: 'not logged in: run `asterisk-guard web-url` on the PBX and open the URL it prints' };
  }

  /** A change comes from this page, with a JSON body. */
  checkChange(headers: { readonly origin?: string | undefined; readonly host?: string | undefined; readonly 'sec-fetch-site'?: string | undefined; readonly 'content-type'?: string | undefined }): Refusal | undefined {
    const { origin, host } = headers;
    if (origin !== undefined) {
      if (!sameOrigin(origin, host)) return { status: 403, message: `a change from ${JSON.stringify(origin)} is refused: changes are made from this page only` };
    } else if (headers['sec-fetch-site'] !== 'same-origin') {
      return { status: 403, message: 'a change without Origin or Sec-Fetch-Site: same-origin is refused: changes are made from this page only' };
    }
    if (!/^application\/json\s*(;|$)/i.test(headers['content-type'] ?? '')) return { status: 403, message: 'a change takes a JSON body (Content-Type: application/json)' };
    return undefined;
  }

  private prune(now: number): void {
    for (const [k, until] of this.tokens) if (until <= now) this.tokens.delete(k);
    for (const [k, until] of this.sessions) if (until <= now) this.sessions.delete(k);
  }
}

/** `http://HOST` or `https://HOST`, HOST exactly as the Host header gave it. */
function sameOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  const a = Buffer.from(origin.toLowerCase());
  return [`http://${host.toLowerCase()}`, `https://${host.toLowerCase()}`].some((o) => {
    const b = Buffer.from(o);
    return a.length === b.length && timingSafeEqual(a, b);
  });
}

/** One cookie's value from a Cookie header; undefined when absent or given twice. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined || header.length > 8192) return undefined;
  const values = header
    .split(';')
    .map((p) => p.trim())
    .filter((p) => p.startsWith(`${name}=`))
    .map((p) => p.slice(name.length + 1));
  return values.length === 1 ? values[0] : undefined;
}

/** The Host forms a page answers to: its URL's host (HOST or HOST:PORT), and localhost's names for a loopback one. */
export function defaultHosts(urlHost: string): string[] {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(urlHost.toLowerCase());
  if (!m) return [urlHost.toLowerCase()];
  const [, host, port] = m;
  const names = [host!];
  if (host === '127.0.0.1' || host === '[::1]' || host === 'localhost') names.push('localhost', '127.0.0.1', '[::1]');
  return [...new Set(names)].map((h) => (port ? `${h}:${port}` : h));
}
