import { parseAsteriskAddress } from './remote-address.js';
import type { FieldReader } from './fields.js';
import { isConnection, isSecurityEventKind, type Endpoint, type SecurityEvent } from './security-event.js';

export type EventParseResult =
  | { ok: true; event: SecurityEvent }
  /** `kind` groups rejections for counting and log-once; `reason` is for the admin. */
  | { ok: false; kind: RejectKind; reason: string };

export type RejectKind =
  | 'not-security-event'
  | 'unknown-event'
  | 'missing-field'
  | 'bad-remote-address'
  | 'bad-event-time'
  | 'forged-field';

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
 * Turns AMI frames (or parsed security-log lines) into SecurityEvents. `arrival` is the clock
 * to use when the event's own time is not to be trusted or absent; `useEventTime` picks
 * EventTV (replay) over arrival (live).
 */
export class SecurityEventParser {
  // The PBX answers on one or two addresses: every event repeats the same LocalAddress text.
  private lastLocalText: string | undefined;
  private lastLocal: Endpoint | undefined;

  constructor(private readonly useEventTime: boolean) {}

  parse(fields: FieldReader, arrival: number): EventParseResult {
    const name = fields.get('Event');
    if (name === undefined) return { ok: false, kind: 'not-security-event', reason: 'frame has no Event field' };
    if (!isSecurityEventKind(name)) {
      return { ok: false, kind: 'unknown-event', reason: `event ${JSON.stringify(name.slice(0, 64))} is not a security event` };
    }
    const service = fields.get('Service');
    const remoteText = fields.single('RemoteAddress');
    const localText = fields.single('LocalAddress');
    // Neither address is trusted when either stands twice: some value made a field of it.
    if (remoteText === null || localText === null) {
      return { ok: false, kind: 'forged-field', reason: `${name}: RemoteAddress or LocalAddress stands twice in one event; neither is used` };
    }
    if (service === undefined || remoteText === undefined) {
      return { ok: false, kind: 'missing-field', reason: `${name} without ${service === undefined ? 'Service' : 'RemoteAddress'}` };
    }
    const remote = parseAsteriskAddress(remoteText);
    if (!remote.ok) return { ok: false, kind: 'bad-remote-address', reason: `${name}: ${remote.reason}` };
    let time = arrival;
    if (this.useEventTime) {
      const tv = fields.get('EventTV');
      const parsed = tv === undefined ? undefined : parseEventTime(tv);
      if (parsed === undefined) {
        return { ok: false, kind: 'bad-event-time', reason: `${name}: EventTV ${JSON.stringify(tv ?? null)} is not a time` };
      }
      time = parsed;
    }
    const roundTrip = isConnection(remote.value.transport) || (name === 'InvalidPassword' && echoedNonce(fields));
    return {
      ok: true,
      event: { kind: name, service, account: fields.get('AccountID'), local: this.local(localText), remote: remote.value, time, roundTrip },
    };
  }

  private local(text: string | undefined): Endpoint | undefined {
    if (text === undefined) return undefined;
    if (text !== this.lastLocalText) {
      const parsed = parseAsteriskAddress(text);
      this.lastLocalText = text;
      this.lastLocal = parsed.ok ? parsed.value : undefined;
    }
    return this.lastLocal;
  }
}

/**
 * chan_sip and IAX2 report the nonce they sent (Challenge) beside the one the request carried
 * (ReceivedChallenge): equal, the sender received ours. PJSIP reports no nonce it sent (its
 * ChallengeSent's Challenge is empty in Asterisk 22), so a PJSIP failure over UDP proves nothing.
 */
function echoedNonce(fields: FieldReader): boolean {
  const sent = fields.single('Challenge');
  return typeof sent === 'string' && sent.length >= 8 && fields.single('ReceivedChallenge') === sent;
}

/** One event on its own (tests, tools); the pipeline keeps one parser for its cache. */
export function parseSecurityEvent(fields: FieldReader, arrival: number, useEventTime: boolean): EventParseResult {
  return new SecurityEventParser(useEventTime).parse(fields, arrival);
}
