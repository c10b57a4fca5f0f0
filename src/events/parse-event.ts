import { parseAsteriskAddress } from './remote-address.js';
import { isSecurityEventKind, type Endpoint, type RawFields, type SecurityEvent } from './security-event.js';

export type EventParseResult =
  | { ok: true; event: SecurityEvent }
  /** `kind` groups rejections for counting and log-once; `reason` is for the admin. */
  | { ok: false; kind: RejectKind; reason: string };

export type RejectKind =
  | 'not-security-event'
  | 'unknown-event'
  | 'missing-field'
  | 'bad-remote-address'
  | 'bad-event-time';

/**
 * EventTV as Asterisk 12+ writes it (`2026-11-25T06:03:54.928+0000`), or the older
 * `SECONDS-MICROSECONDS` form of Asterisk 1.8-11.
 */
export function parseEventTime(text: string): number | undefined {
  const legacy = /^(\d{9,11})-(\d{1,6})$/.exec(text);
  if (legacy) return Number(legacy[1]) * 1000 + Math.floor(Number(legacy[2]!.padEnd(6, '0')) / 1000);
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:?\d\d|Z)$/.test(text)) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * Turns one AMI frame (or one parsed security-log line) into a SecurityEvent.
 * `arrival` is the clock to use when the event's own time is not to be trusted or absent;
 * `useEventTime` picks EventTV (replay) over arrival (live).
 */
export function parseSecurityEvent(fields: RawFields, arrival: number, useEventTime: boolean): EventParseResult {
  const name = fields['Event'];
  if (name === undefined) return { ok: false, kind: 'not-security-event', reason: 'frame has no Event field' };
  if (!isSecurityEventKind(name)) {
    return { ok: false, kind: 'unknown-event', reason: `event ${JSON.stringify(name.slice(0, 64))} is not a security event` };
  }
  const service = fields['Service'];
  const remoteText = fields['RemoteAddress'];
  if (service === undefined || remoteText === undefined) {
    return { ok: false, kind: 'missing-field', reason: `${name} without ${service === undefined ? 'Service' : 'RemoteAddress'}` };
  }
  const remote = parseAsteriskAddress(remoteText);
  if (!remote.ok) return { ok: false, kind: 'bad-remote-address', reason: `${name}: ${remote.reason}` };
  let local: Endpoint | undefined;
  const localText = fields['LocalAddress'];
  if (localText !== undefined) {
    const parsed = parseAsteriskAddress(localText);
    if (parsed.ok) local = parsed.value;
  }
  let time = arrival;
  if (useEventTime) {
    const tv = fields['EventTV'];
    const parsed = tv === undefined ? undefined : parseEventTime(tv);
    if (parsed === undefined) {
      return { ok: false, kind: 'bad-event-time', reason: `${name}: EventTV ${JSON.stringify(tv ?? null)} is not a time` };
    }
    time = parsed;
  }
  return {
    ok: true,
    event: {
      kind: name,
      service,
      account: fields['AccountID'],
      session: fields['SessionID'],
      local,
      remote: remote.value,
      time,
      raw: fields,
    },
  };
}
