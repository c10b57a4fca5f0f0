import { parseIpPrefix, type PrefixText } from '../net/ip-prefix.js';

// What blocklist services answer, read into prefixes (issue 26), kept as their parsed text: a
// feed of 100k entries holds no object per entry (docs/decisions.md, feeds' memory). Each reader takes the bytes a
// service sent and says what it could not use: a feed is someone else's text, and a line or an
// entry it cannot read is counted, never a reason to drop the rest.

/** A line or entry not used, for the feed's status (a few kept, all counted). */
export interface Skipped {
  readonly where: string;
  readonly why: string;
}

export interface ReadList {
  readonly entries: PrefixText[];
  readonly skipped: number;
  /** The first few skipped, for the warning. */
  readonly examples: readonly Skipped[];
}

const EXAMPLES = 5;
/** A line longer than any address with a comment: not a list line (a HTML error page, binary). */
const MAX_LINE = 512;

function collector() {
  const examples: Skipped[] = [];
  let skipped = 0;
  return {
    skip(where: string, why: string) {
      skipped++;
      if (examples.length < EXAMPLES) examples.push({ where, why });
    },
    result: (entries: PrefixText[]): ReadList => ({ entries, skipped, examples }),
  };
}

/**
 * A plain list (VoIPBL, blocklist.de's sip list, FireHOL netsets): one address or CIDR a line,
 * comments after `#` or `;`; anything after the first word of a line is ignored (some lists
 * put a date or a count there).
 */
export function readPlainList(text: string): ReadList {
  const c = collector();
  const entries: PrefixText[] = [];
  let n = 0;
  for (const raw of text.split('\n')) {
    n++;
    const line = raw.replace(/[#;].*$/, '').trim();
    if (line === '') continue;
    if (line.length > MAX_LINE) {
      c.skip(`line ${n}`, 'longer than any list line');
      continue;
    }
    const word = line.split(/\s/, 1)[0]!;
    const p = parseIpPrefix(word);
    if (p.ok) entries.push(p.value.text);
    else c.skip(`line ${n}`, p.reason);
  }
  return c.result(entries);
}

/** One answer of APIBAN's `/api/get` (or the older `/api/KEY/banned/ID`). */
export type ApibanPage =
  | { readonly kind: 'page'; readonly list: ReadList; readonly id: string }
  /** "no new bans": the list is complete up to the ID asked for. */
  | { readonly kind: 'end' }
  | { readonly kind: 'error'; readonly message: string; readonly retryAfterMs?: number };

/**
 * APIBAN answers `{"ipaddress": [...], "ID": "..."}` (200), with the next ID to ask for; the end
 * is HTTP 400 with `{"ipaddress": ["no new bans"], "ID": "none"}`; an error (403: bad key, 429:
 * too many calls) has `ipaddress` as a string, the reason.
 */
export function readApibanPage(status: number, body: string, retryAfter?: string | null): ApibanPage {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { kind: 'error', message: `HTTP ${status}, not JSON: ${JSON.stringify(body.slice(0, 80))}` };
  }
  const o = (typeof json === 'object' && json !== null ? json : {}) as Record<string, unknown>;
  const addresses = o['ipaddress'];
  const id = o['ID'];
  if (status === 400 && id === 'none' && Array.isArray(addresses) && addresses[0] === 'no new bans') return { kind: 'end' };
  if (status !== 200) {
    const why = typeof addresses === 'string' ? addresses : `HTTP ${status}`;
    const seconds = retryAfter ? Number(retryAfter) : NaN;
    return { kind: 'error', message: `HTTP ${status}: ${why.slice(0, 200)}`, ...(Number.isFinite(seconds) && seconds >= 0 ? { retryAfterMs: seconds * 1000 } : {}) };
  }
  if (!Array.isArray(addresses) || (typeof id !== 'string' && typeof id !== 'number')) return { kind: 'error', message: 'HTTP 200 without an ipaddress list and an ID' };
  const c = collector();
  const entries: PrefixText[] = [];
  addresses.forEach((a, i) => {
    const p = typeof a === 'string' ? parseIpPrefix(a) : { ok: false as const, reason: 'not a string' };
    if (p.ok) entries.push(p.value.text);
    else c.skip(`entry ${i}`, p.reason);
  });
  return { kind: 'page', list: c.result(entries), id: String(id) };
}

/** A CrowdSec decision as a bouncer uses it. */
export interface StreamDecision {
  readonly prefix: PrefixText;
  /** ms left. */
  readonly durationMs: number;
}

export interface ReadStream {
  readonly added: StreamDecision[];
  readonly deleted: PrefixText[];
  readonly skipped: number;
  readonly examples: readonly Skipped[];
}

/**
 * `GET /v1/decisions/stream` of a CrowdSec Local API: `{"new": [...] | null, "deleted": [...] |
 * null}`, each decision `{duration, origin, scenario, scope, type, value}`. Only `ban`
 * decisions of scope `Ip` or `Range` are ours; other types (captcha) and scopes (Country, AS)
 * are skipped and counted.
 */
export function readDecisionStream(body: string): ReadStream | { error: string } {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { error: `not JSON: ${JSON.stringify(body.slice(0, 80))}` };
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return { error: 'not a decision stream (an object with new and deleted)' };
  const o = json as Record<string, unknown>;
  const c = collector();
  const added: StreamDecision[] = [];
  const deleted: PrefixText[] = [];
  for (const key of ['new', 'deleted'] as const) {
    const list = o[key];
    if (list === null || list === undefined) continue;
    if (!Array.isArray(list)) return { error: `${key} is neither a list nor null` };
    list.forEach((d: unknown, i) => {
      const where = `${key}[${i}]`;
      const decision = (typeof d === 'object' && d !== null ? d : {}) as Record<string, unknown>;
      const scope = String(decision['scope'] ?? '').toLowerCase();
      if (String(decision['type'] ?? '').toLowerCase() !== 'ban') return c.skip(where, `type ${JSON.stringify(decision['type'])}, not ban`);
      if (scope !== 'ip' && scope !== 'range') return c.skip(where, `scope ${JSON.stringify(decision['scope'])}, not Ip or Range`);
      const p = typeof decision['value'] === 'string' ? parseIpPrefix(decision['value']) : { ok: false as const, reason: 'no value' };
      if (!p.ok) return c.skip(where, p.reason);
      if (scope === 'ip' && p.value.length !== (p.value.family === 4 ? 32 : 128)) return c.skip(where, `scope Ip with a range ${p.value.text}`);
      if (key === 'deleted') return void deleted.push(p.value.text);
      const durationMs = readGoDuration(String(decision['duration'] ?? ''));
      if (durationMs === undefined) return c.skip(where, `duration ${JSON.stringify(decision['duration'])} is not a Go duration`);
      if (durationMs <= 0) return c.skip(where, 'already expired');
      added.push({ prefix: p.value.text, durationMs });
    });
  }
  const { skipped, examples } = c.result([]);
  return { added, deleted, skipped, examples };
}

const UNIT_MS: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go's time.Duration text (`3h59m55.123s`, `-1m`, `500ms`) in ms; undefined when it is none. */
export function readGoDuration(text: string): number | undefined {
  if (text === '0') return 0;
  const m = /^([+-]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h))+$/.exec(text);
  if (!m || text.length > 64) return undefined;
  let total = 0;
  for (const part of text.slice(m[1]!.length).matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/g)) total += Number(part[1]) * UNIT_MS[part[2]!]!;
  return m[1] === '-' ? -total : total;
}
