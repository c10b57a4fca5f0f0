import { recordReader } from '../../src/events/fields.js';
import { parseSecurityEvent } from '../../src/events/parse-event.js';
import type { FailureKind, SecurityEvent, SecurityEventKind } from '../../src/events/security-event.js';

/** A security event as Asterisk would send it, parsed by the real parser. */
export function event(kind: SecurityEventKind | FailureKind, remote: string, time: number, extra: Record<string, string> = {}): SecurityEvent {
  const family = remote.includes(':') ? 'IPV6' : 'IPV4';
  const r = parseSecurityEvent(
    recordReader({
      Event: kind,
      Service: 'PJSIP',
      AccountID: '1001',
      LocalAddress: family === 'IPV4' ? 'IPV4/UDP/192.0.2.1/5060' : 'IPV6/UDP/2001:db8::1/5060',
      RemoteAddress: `${family}/UDP/${remote}/5060`,
      ...extra,
    }),
    time,
    false,
  );
  if (!r.ok) throw new Error(r.reason);
  return r.event;
}
