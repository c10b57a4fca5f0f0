import { parseIpAddress, type ParseResult } from '../net/ip-prefix.js';
import type { Endpoint, Transport } from './security-event.js';

const TRANSPORTS: ReadonlySet<string> = new Set(['UDP', 'TCP', 'TLS', 'WS', 'WSS', 'SCTP']);

/**
 * Parses Asterisk's address form: `IPV4/UDP/203.0.113.5/5060`, `IPV6/UDP/2001:db8::1/5060`
 * (IPv6 without brackets), `IPV4/203.0.113.5/5060` (no transport). The port is the last
 * `/`-part and the address the one before it; an IPv6 address never contains `/`.
 */
export function parseAsteriskAddress(text: string): ParseResult<Endpoint> {
  if (text.length > 128) return { ok: false, reason: 'address field longer than 128 characters' };
  const parts = text.split('/');
  if (parts.length !== 3 && parts.length !== 4) {
    return { ok: false, reason: `expected FAMILY/[TRANSPORT/]ADDRESS/PORT, got ${JSON.stringify(text)}` };
  }
  const family = parts[0]!.toUpperCase();
  if (family !== 'IPV4' && family !== 'IPV6') {
    return { ok: false, reason: `unknown address family ${JSON.stringify(parts[0])}` };
  }
  let transport: Transport | undefined;
  if (parts.length === 4) {
    const t = parts[1]!.toUpperCase();
    if (!TRANSPORTS.has(t)) return { ok: false, reason: `unknown transport ${JSON.stringify(parts[1])}` };
    transport = t as Transport;
  }
  const portText = parts[parts.length - 1]!;
  const port = portText.length > 0 && portText.length <= 5 ? Number(portText) : NaN;
  if (!Number.isInteger(port) || port > 65535 || portText.charCodeAt(0) < 48 || portText.charCodeAt(0) > 57) {
    return { ok: false, reason: `bad port ${JSON.stringify(portText)}` };
  }
  let addressText = parts[parts.length - 2]!;
  if (addressText.startsWith('[') && addressText.endsWith(']')) addressText = addressText.slice(1, -1);
  const ip = parseIpAddress(addressText);
  if (!ip.ok) return ip;
  // IPV6 with an IPv4-mapped address parses to v4 on purpose; IPV4 with a v6 address is a lie.
  if (family === 'IPV4' && addressText.includes(':')) {
    return { ok: false, reason: `IPV4 family with an IPv6 address ${JSON.stringify(addressText)}` };
  }
  return { ok: true, value: { ip: ip.value, port, transport } };
}
