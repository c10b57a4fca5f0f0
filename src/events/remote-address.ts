import { parseIpAddress, type ParseResult } from '../net/ip-prefix.js';
import type { Endpoint, Transport } from './security-event.js';

const TRANSPORTS: ReadonlySet<string> = new Set(['UDP', 'TCP', 'TLS', 'WS', 'WSS', 'SCTP']);

function fail(reason: string): ParseResult<Endpoint> {
  return { ok: false, reason };
}

/**
 * Parses Asterisk's address form: `IPV4/UDP/203.0.113.5/5060`, `IPV6/UDP/2001:db8::1/5060`
 * (IPv6 without brackets), `IPV4/203.0.113.5/5060` (no transport). The port is the last
 * `/`-part and the address the one before it; an IPv6 address never contains `/`.
 * Every event carries one, so this finds the parts by position rather than splitting.
 */
export function parseAsteriskAddress(text: string): ParseResult<Endpoint> {
  if (text.length > 128) return fail('address field longer than 128 characters');
  // Slash positions by one scan (lastIndexOf is slow in V8). 3 parts: FAMILY/ADDRESS/PORT;
  // 4 parts: FAMILY/TRANSPORT/ADDRESS/PORT.
  let parts = 1;
  let first = -1;
  let middle = -1;
  let beforeLast = -1;
  let last = -1;
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) !== 47) continue;
    if (++parts === 2) first = i;
    else if (parts === 3) middle = i;
    beforeLast = last;
    last = i;
  }
  if (parts !== 3 && parts !== 4) return fail(`expected FAMILY/[TRANSPORT/]ADDRESS/PORT, got ${JSON.stringify(text)}`);
  // Asterisk writes `IPV4/UDP/`: recognised in place, without cutting strings out.
  const family = first === 4 && text.startsWith('IPV4') ? 'IPV4' : first === 4 && text.startsWith('IPV6') ? 'IPV6' : text.slice(0, first).toUpperCase();
  if (family !== 'IPV4' && family !== 'IPV6') return fail(`unknown address family ${JSON.stringify(text.slice(0, first))}`);
  let transport: Transport | undefined;
  if (parts === 4) {
    const t = middle - first === 4 && text.startsWith('UDP', first + 1) ? 'UDP' : text.slice(first + 1, middle).toUpperCase();
    if (!TRANSPORTS.has(t)) return fail(`unknown transport ${JSON.stringify(text.slice(first + 1, middle))}`);
    transport = t as Transport;
  }
  let port = 0;
  const digits = text.length - last - 1;
  for (let i = last + 1; i < text.length; i++) {
    const c = text.charCodeAt(i) - 48;
    if (c < 0 || c > 9) {
      port = -1;
      break;
    }
    port = port * 10 + c;
  }
  if (digits === 0 || digits > 5 || port < 0 || port > 65535) return fail(`bad port ${JSON.stringify(text.slice(last + 1))}`);
  let addressText = text.slice(beforeLast + 1, last);
  if (addressText.startsWith('[') && addressText.endsWith(']')) addressText = addressText.slice(1, -1);
  const ip = parseIpAddress(addressText);
  if (!ip.ok) return ip;
  // IPV6 with an IPv4-mapped address parses to v4 on purpose; IPV4 with a v6 address is a lie.
  if (family === 'IPV4' && addressText.includes(':')) return fail(`IPV4 family with an IPv6 address ${JSON.stringify(addressText)}`);
  return { ok: true, value: { ip: ip.value, port, transport } };
}
