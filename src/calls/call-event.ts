import type { FieldReader } from '../events/fields.js';

// The AMI call events the toll-fraud guard reads (manager.conf `read = call`): a caller starts
// dialling a number (DialBegin), the far end answers (DialEnd, DialStatus ANSWER), a channel
// ends (Hangup). Other call events are not needed; the shipped eventfilters leave them out.

const CALL_EVENTS: ReadonlySet<string> = new Set(['DialBegin', 'DialEnd', 'Hangup']);

export function isCallEventName(name: string): boolean {
  return CALL_EVENTS.has(name);
}

/** A caller channel begins to dial: the moment a fraudulent call can still be cut. */
export interface DialEvent {
  readonly kind: 'dial';
  /** Asterisk's channel name, what AMI Hangup takes: `PJSIP/1003-0000002a`. */
  readonly channel: string;
  /** The endpoint the call came from (`1003`; other technologies as `SIP/1003`). */
  readonly endpoint: string;
  readonly uniqueid: string;
  /** What the caller dialled (the caller channel's Exten). */
  readonly number: string;
  readonly time: number;
}

export interface AnswerEvent {
  readonly kind: 'answer';
  readonly uniqueid: string;
  readonly time: number;
}

export interface HangupEvent {
  readonly kind: 'hangup';
  readonly uniqueid: string;
  readonly time: number;
}

export type CallEvent = DialEvent | AnswerEvent | HangupEvent;

export type CallParseResult =
  | { ok: true; event: CallEvent }
  /** Not a mistake: a dial by a channel that is no endpoint (Local/..., a queue's member). */
  | { ok: true; event: undefined }
  | { ok: false; kind: 'bad-call-event'; reason: string };

// `TECH/resource-sequence`: the sequence is 8 hex digits; Local channels add `;1` or `;2`.
const CHANNEL = /^([A-Za-z][A-Za-z0-9_]{0,15})\/(.+)-[0-9a-f]{8}$/;
// Endpoint names that are safe as an AstDB key, a log field and a CLI argument.
const ENDPOINT_NAME = /^[A-Za-z0-9_.@+-]{1,64}$/;
// Dialled numbers: digits, * # or + first, then what a `_0.` pattern lets through (up to
// Asterisk's 80 characters). What a carrier would dial is read from it (destination.ts); a
// 37-digit number or a `*1` tail is judged, not skipped (issue 24).
const NUMBER = /^[+0-9*#][0-9A-Za-z*#+._-]{0,79}$/;
const UNIQUEID = /^[0-9A-Za-z._-]{1,64}$/;
// Channel technologies whose channels are phones or trunks (not Local, Message, Bridge...).
const ENDPOINT_TECHS: ReadonlySet<string> = new Set(['PJSIP', 'SIP', 'IAX2', 'DAHDI', 'WebRTC']);

/**
 * The endpoint a channel belongs to, undefined when the channel is none (Local/...). PJSIP, the
 * technology of today's Asterisk, is left out of the name: `1003`, as `CHANNEL(endpoint)` says
 * it in the dialplan snippet.
 */
export function endpointOfChannel(channel: string): string | undefined {
  const m = CHANNEL.exec(channel);
  if (!m || !ENDPOINT_TECHS.has(m[1]!)) return undefined;
  const name = m[2]!;
  if (!ENDPOINT_NAME.test(name)) return undefined;
  return m[1] === 'PJSIP' ? name : `${m[1]}/${name}`;
}

/** Is this a name the guard could have given an endpoint (CLI arguments, socket requests)? */
export function isEndpointName(text: string): boolean {
  const slash = text.indexOf('/');
  return slash === -1 ? ENDPOINT_NAME.test(text) : ENDPOINT_TECHS.has(text.slice(0, slash)) && ENDPOINT_NAME.test(text.slice(slash + 1));
}

/**
 * The `Timestamp` header of manager.conf's `timestampevents = yes`: `1795658536.019310`
 * (seconds.microseconds). Call events carry no EventTV.
 */
export function parseTimestamp(text: string): number | undefined {
  const m = /^(\d{9,11})(?:\.(\d{1,6}))?$/.exec(text);
  if (!m) return undefined;
  return Number(m[1]) * 1000 + Math.floor(Number((m[2] ?? '0').padEnd(6, '0')) / 1000);
}

/**
 * Turns the fields of a DialBegin, DialEnd or Hangup into a CallEvent. `useEventTime` reads the
 * Timestamp header (replay); live, the arrival time is the clock.
 */
export function parseCallEvent(name: string, fields: FieldReader, arrival: number, useEventTime: boolean): CallParseResult {
  let time = arrival;
  if (useEventTime) {
    const stamp = fields.get('Timestamp');
    const parsed = stamp === undefined ? undefined : parseTimestamp(stamp);
    if (parsed === undefined) {
      return { ok: false, kind: 'bad-call-event', reason: `${name} without a Timestamp (manager.conf [general] timestampevents = yes) or with a bad one: ${JSON.stringify(stamp?.slice(0, 32) ?? null)}` };
    }
    time = parsed;
  }
  const uniqueid = fields.single('Uniqueid');
  if (typeof uniqueid !== 'string' || !UNIQUEID.test(uniqueid)) {
    return { ok: false, kind: 'bad-call-event', reason: `${name}: Uniqueid missing, repeated or malformed` };
  }
  if (name === 'Hangup') return { ok: true, event: { kind: 'hangup', uniqueid, time } };
  if (name === 'DialEnd') {
    return { ok: true, event: fields.get('DialStatus') === 'ANSWER' ? { kind: 'answer', uniqueid, time } : undefined };
  }
  const channel = fields.single('Channel');
  const number = fields.single('Exten');
  // Both stand once: a value that smuggled a second `Channel:` line must not choose what is cut.
  if (typeof channel !== 'string' || typeof number !== 'string') {
    return { ok: false, kind: 'bad-call-event', reason: 'DialBegin: Channel or Exten missing or repeated' };
  }
  const endpoint = endpointOfChannel(channel);
  if (endpoint === undefined || !NUMBER.test(number)) return { ok: true, event: undefined };
  return { ok: true, event: { kind: 'dial', channel, endpoint, uniqueid, number, time } };
}
