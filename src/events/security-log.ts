import type { Fields } from './fields.js';

// `[Nov 25 06:02:18] SECURITY[19048] res_security_log.c: SecurityEvent="ChallengeResponseFailed",EventTV="...",...`
//
// Asterisk writes the values unescaped, and some of them are the attacker's own words (the
// account name, the SIP Call-ID as SessionID, the digest's response...). A value holding
// `",RemoteAddress="IPV4/UDP/198.51.100.7/5060` must not frame 198.51.100.7. What the
// attacker cannot forge is the shape of the line Asterisk writes: the head fields in order,
// then LocalAddress and RemoteAddress side by side, then the event's own fields, each once,
// with Asterisk's own values free of quotes. The genuine address pair is the one around which
// the whole line has that shape; a look-alike inside an earlier value is followed by the
// genuine pair (a head key where only event fields may stand), one inside a later value
// leaves fewer of the event's fields after it. Where two pairs fit equally the line is
// ambiguous and neither address is used.

/** Head fields in Asterisk's order; those the attacker can write absorb look-alikes. */
const HEAD = ['SecurityEvent', 'EventTV', 'Severity', 'Service', 'EventVersion', 'AccountID', 'SessionID'] as const;
const ATTACKER_HEAD: ReadonlySet<string> = new Set(['AccountID', 'SessionID']);
const ANCHOR: ReadonlySet<string> = new Set(['LocalAddress', 'RemoteAddress']);
// RequestBadFormat may carry AccountID among its own fields, after the addresses.
const NOT_TRAILING: ReadonlySet<string> = new Set([...HEAD.filter((k) => k !== 'AccountID'), ...ANCHOR]);
/** Readings tried per line at most: look-alikes could otherwise make the search exponential. */
const MAX_STEPS = 20_000;
/** Fields per line at most: Asterisk writes 14 or fewer. */
const MAX_MARKERS = 64;
/** Event fields whose values Asterisk makes itself: never a quote in them. The rest (Response, ReceivedHash, RequestParams, ...) are the sender's. */
const ASTERISK_TRAILING: ReadonlySet<string> = new Set(['Module', 'SessionTV', 'Challenge', 'ExpectedResponse', 'ACLName']);
const COMMON_TRAILING = ['Module', 'SessionTV'];
/** Each event's own fields after the addresses (Asterisk 22's security_events.c); unknown events take any. */
const EVENT_TRAILING: Readonly<Record<string, ReadonlySet<string>>> = Object.fromEntries(
  Object.entries({
    FailedACL: ['ACLName'],
    InvalidAccountID: [],
    SessionLimit: [],
    MemoryLimit: [],
    LoadAverageLimit: [],
    RequestNotSupported: ['RequestType'],
    RequestNotAllowed: ['RequestType', 'RequestParams'],
    AuthMethodNotAllowed: ['AuthMethod'],
    RequestBadFormat: ['RequestType', 'AccountID', 'RequestParams'],
    SuccessfulAuth: ['UsingPassword'],
    UnexpectedAddress: ['ExpectedAddress'],
    ChallengeResponseFailed: ['Challenge', 'Response', 'ExpectedResponse'],
    InvalidPassword: ['Challenge', 'ReceivedChallenge', 'ReceivedHash'],
    ChallengeSent: ['Challenge'],
    InvalidTransport: ['AttemptedTransport'],
  }).map(([event, keys]) => [event, new Set([...keys, ...COMMON_TRAILING])]),
);
const ADDRESS = /^IPV[46]\/(?:[A-Z]+\/)?[0-9A-Za-z.:%_-]+\/\d+$/;

export type SecurityLogLine =
  | { readonly ok: true; readonly fields: Fields; /** a key stood more than once: a look-alike in some value */ readonly forged: boolean }
  | { readonly ok: false; readonly reason: 'not-a-security-line' | 'forged-field'; readonly detail: string };

interface Marker {
  readonly key: string;
  /** Where `",Key="` (or `Key="` for the first) starts. */
  readonly start: number;
  /** Where the value starts. */
  readonly value: number;
}

/** Fields of one security-log line (possibly several physical lines), named as AMI names them (SecurityEvent becomes Event). */
export function parseSecurityLogLine(line: string): SecurityLogLine {
  const at = line.indexOf('SecurityEvent="');
  const body = at === -1 ? '' : line.slice(at).trimEnd();
  if (!body.endsWith('"')) return { ok: false, reason: 'not-a-security-line', detail: line.slice(0, 80) };
  const markers: Marker[] = [{ key: 'SecurityEvent', start: 0, value: 'SecurityEvent="'.length }];
  for (const m of body.matchAll(/",([A-Za-z]+)="/g)) markers.push({ key: m[1]!, start: m.index, value: m.index + m[0].length });
  if (markers.length > MAX_MARKERS) return { ok: false, reason: 'forged-field', detail: `${markers.length} fields in one line` };
  const end = body.length - 1;
  const budget = { steps: MAX_STEPS };
  const event = /^SecurityEvent="([A-Za-z]+)"/.exec(body)?.[1] ?? '';
  const own = EVENT_TRAILING[event];
  const trailingKey: KeyRule = (key, after) => (own && !own.has(key) ? undefined : anyTrailingKey(key, after));
  const valueOf = (i: number, next: number) => body.slice(markers[i]!.value, next < markers.length ? markers[next]!.start : end);

  let best: { fields: Fields; trailing: number } | undefined;
  let tie = false;
  for (let c = 1; c + 1 < markers.length; c++) {
    if (markers[c]!.key !== 'LocalAddress' || markers[c + 1]!.key !== 'RemoteAddress') continue;
    const local = valueOf(c, c + 1);
    const remote = valueOf(c + 1, c + 2);
    if (!ADDRESS.test(local) || !ADDRESS.test(remote)) continue;
    const head = parseSegment(markers, 0, c, valueOf, headKey, budget);
    const trailing = parseSegment(markers, c + 2, markers.length, valueOf, trailingKey, budget);
    if (!head || !trailing) continue;
    const count = Object.keys(trailing).length;
    if (best && count === best.trailing) {
      tie ||= best.fields['RemoteAddress'] !== remote;
      continue;
    }
    if (best && count < best.trailing) continue;
    best = { fields: Object.assign(Object.create(null) as Fields, head, { LocalAddress: local, RemoteAddress: remote }, trailing), trailing: count };
    tie = false;
  }
  if (!best) {
    // No address pair: still an event (the policy reports what is missing), if the head holds.
    const head = parseSegment(markers, 0, markers.length, valueOf, (key, after) => headKey(key, after) ?? trailingKey(key, after), budget);
    if (!head) return { ok: false, reason: 'not-a-security-line', detail: line.slice(0, 80) };
    return finish(head, markers);
  }
  if (tie || budget.steps <= 0) return { ok: false, reason: 'forged-field', detail: `${tie ? 'two address pairs fit the line equally' : 'too many look-alike fields'}: ${body.slice(0, 120)}` };
  return finish(best.fields, markers);
}

function finish(fields: Fields, markers: readonly Marker[]): SecurityLogLine {
  fields['Event'] = fields['SecurityEvent']!;
  delete fields['SecurityEvent'];
  const keys = new Set<string>();
  let forged = false;
  for (const m of markers) {
    if (keys.has(m.key)) forged = true;
    keys.add(m.key);
  }
  return { ok: true, fields, forged };
}

type Role = 'asterisk' | 'sender';
/** What a key may be at this point of a segment, given the keys already read; undefined: not here. */
type KeyRule = (key: string, after: ReadonlySet<string>) => Role | undefined;

const headKey: KeyRule = (key, after) => {
  const index = HEAD.indexOf(key as (typeof HEAD)[number]);
  if (index === -1) return undefined;
  // In Asterisk's order: nothing read so far may come after it.
  for (const k of after) if (HEAD.indexOf(k as (typeof HEAD)[number]) >= index) return undefined;
  return ATTACKER_HEAD.has(key) ? 'sender' : 'asterisk';
};

const anyTrailingKey: KeyRule = (key, after) => {
  if (NOT_TRAILING.has(key) || after.has(key)) return undefined;
  return ASTERISK_TRAILING.has(key) ? 'asterisk' : 'sender';
};

/**
 * Reads markers[from..to) as consecutive fields: each chosen marker starts a field; a value
 * the sender wrote may swallow the markers after it (a look-alike), one Asterisk wrote may
 * not and holds no quote. Tries the reading with the most fields first; undefined when none fits.
 */
function parseSegment(markers: readonly Marker[], from: number, to: number, valueOf: (i: number, next: number) => string, rule: KeyRule, budget: { steps: number }): Fields | undefined {
  const fields = Object.create(null) as Fields;
  const keys = new Set<string>();
  const walk = (i: number): boolean => {
    if (i === to) return true;
    if (--budget.steps < 0) return false;
    const key = markers[i]!.key;
    const role = rule(key, keys);
    if (role === undefined) return false;
    keys.add(key);
    const last = role === 'asterisk' ? i + 1 : to;
    for (let next = i + 1; next <= last; next++) {
      const value = valueOf(i, next);
      if (role === 'asterisk' && value.includes('"')) break;
      fields[key] = value;
      if (walk(next)) return true;
    }
    keys.delete(key);
    delete fields[key];
    return false;
  };
  return walk(from) ? fields : undefined;
}
