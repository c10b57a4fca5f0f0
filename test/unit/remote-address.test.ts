import { describe, expect, it } from 'vitest';
import { parseAsteriskAddress } from '../../src/events/remote-address.js';

describe('parseAsteriskAddress', () => {
  it.each([
    ['IPV4/UDP/203.0.113.5/5060', '203.0.113.5', 5060, 'UDP'],
    ['IPV6/UDP/2001:db8::1/5060', '2001:db8::1', 5060, 'UDP'],
    ['IPV4/203.0.113.5/5060', '203.0.113.5', 5060, undefined],
    ['IPV6/2001:db8::1/5061', '2001:db8::1', 5061, undefined],
    ['IPV6/UDP/::ffff:203.0.113.5/5060', '203.0.113.5', 5060, 'UDP'],
    ['IPV6/UDP/fe80::1%eth0/5060', 'fe80::1', 5060, 'UDP'],
    ['IPV6/TLS/[2001:db8::1]/5061', '2001:db8::1', 5061, 'TLS'],
    ['IPV4/TCP/127.0.0.1/57980', '127.0.0.1', 57980, 'TCP'],
    ['IPV4/WSS/198.51.100.10/8089', '198.51.100.10', 8089, 'WSS'],
  ])('%s', (input, ip, port, transport) => {
    const r = parseAsteriskAddress(input);
    expect(r).toEqual({ ok: true, value: { ip: expect.objectContaining({ text: ip }), port, transport } });
  });

  it.each([
    '',
    '203.0.113.5',
    'IPV4/UDP/203.0.113.5',
    'IPV4/UDP/203.0.113.5/70000',
    'IPV4/UDP/203.0.113.5/port',
    'IPV5/UDP/203.0.113.5/5060',
    'IPV4/FOO/203.0.113.5/5060',
    'IPV4/UDP/2001:db8::1/5060',
    'IPV4/UDP/not-an-ip/5060',
    'IPV4/UDP/203.0.113.5/5060/extra',
    'IPV6/UDP/fe80::1%/5060',
    `IPV4/UDP/${'1'.repeat(200)}/5060`,
    '(null)',
  ])('rejects %j with a reason', (input) => {
    const r = parseAsteriskAddress(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/\S/);
  });
});
