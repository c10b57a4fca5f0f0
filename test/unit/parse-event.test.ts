import { describe, expect, it } from 'vitest';
import { AmiFrameDecoder } from '../../src/ami/frame-decoder.js';
import { recordReader } from '../../src/events/fields.js';
import { parseEventTime, parseSecurityEvent, SecurityEventParser } from '../../src/events/parse-event.js';
import { parseConfig } from '../../src/config/load.js';
import { buildCore } from '../../src/core.js';
import { createLogger } from '../../src/log.js';

const base = {
  Event: 'ChallengeResponseFailed',
  EventTV: '2026-11-25T06:03:55.621+0000',
  Service: 'PJSIP',
  AccountID: '1001',
  SessionID: '2066618266@127.0.0.1',
  LocalAddress: 'IPV4/UDP/192.0.2.1/5060',
  RemoteAddress: 'IPV4/UDP/198.51.100.10/41412',
};

describe('parseSecurityEvent', () => {
  it('types every field', () => {
    const r = parseSecurityEvent(recordReader(base), 123, true);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.event).toMatchObject({
      kind: 'ChallengeResponseFailed',
      service: 'PJSIP',
      account: '1001',
      time: Date.UTC(2026, 10, 25, 6, 3, 55, 621),
    });
    expect(r.event.remote.ip.text).toBe('198.51.100.10');
    expect(r.event.remote.port).toBe(41412);
    expect(r.event.local?.ip.text).toBe('192.0.2.1');
  });

  it('reads each LocalAddress of a stream, not only the first', () => {
    const parser = new SecurityEventParser(false);
    const locals = ['IPV4/UDP/192.0.2.1/5060', 'IPV4/UDP/192.0.2.1/5060', 'IPV6/UDP/2001:db8::1/5060', 'bad', 'IPV4/UDP/192.0.2.1/5060'].map((LocalAddress) => {
      const r = parser.parse(recordReader({ ...base, LocalAddress }), 0);
      return r.ok ? (r.event.local?.ip.text ?? '-') : 'rejected';
    });
    expect(locals).toEqual(['192.0.2.1', '192.0.2.1', '2001:db8::1', '-', '192.0.2.1']);
  });

  it.each([
    ['UDP', {}, false],
    ['TCP', { RemoteAddress: 'IPV4/TCP/198.51.100.10/41412' }, true],
    ['TLS', { RemoteAddress: 'IPV6/TLS/2001:db8::10/5061' }, true],
    ['no transport', { RemoteAddress: 'IPV4/198.51.100.10/41412' }, false],
    ['an echoed nonce', { Event: 'InvalidPassword', Challenge: '7f3a9c21', ReceivedChallenge: '7f3a9c21' }, true],
    ['a made-up nonce', { Event: 'InvalidPassword', Challenge: '7f3a9c21', ReceivedChallenge: '00000000' }, false],
    ['empty nonces', { Event: 'InvalidPassword', Challenge: '', ReceivedChallenge: '' }, false],
    ['a PJSIP nonce (what the sender wrote)', { Challenge: '1795586538/8f8d62dd72a72b686ac45a27bf43d51e' }, false],
  ])('proves a round trip over %s: %j → %s', (_name, extra, roundTrip) => {
    const r = parseSecurityEvent(recordReader({ ...base, ...extra }), 0, false);
    expect(r.ok && r.event.roundTrip).toBe(roundTrip);
  });

  it('uses arrival time live', () => {
    const r = parseSecurityEvent(recordReader(base), 123, false);
    expect(r.ok && r.event.time).toBe(123);
  });

  it.each([
    [{ ...base, Event: undefined }, 'not-security-event'],
    [{ ...base, Event: 'Newchannel' }, 'unknown-event'],
    [{ ...base, Service: undefined }, 'missing-field'],
    [{ ...base, RemoteAddress: undefined }, 'missing-field'],
    [{ ...base, RemoteAddress: 'IPV4/UDP/999.1.1.1/5060' }, 'bad-remote-address'],
    [{ ...base, EventTV: 'yesterday' }, 'bad-event-time'],
  ])('rejects %j as %s', (fields, kind) => {
    const clean = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Record<string, string>;
    const r = parseSecurityEvent(recordReader(clean), 0, true);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.kind).toBe(kind);
  });
});

describe('parseEventTime', () => {
  it('reads both EventTV forms', () => {
    expect(parseEventTime('2026-11-25T06:03:55.621+0000')).toBe(Date.UTC(2026, 10, 25, 6, 3, 55, 621));
    expect(parseEventTime('2026-11-25T07:03:55.621+0100')).toBe(Date.UTC(2026, 10, 25, 6, 3, 55, 621));
    expect(parseEventTime('1369139052-186542')).toBe(1369139052186);
    expect(parseEventTime('')).toBeUndefined();
    expect(parseEventTime('2026-13-45T99:99:99+0000')).toBeUndefined();
  });
});

describe('AMI frames with the sender’s words in them', () => {
  /** One AMI frame through the real decoder, as the daemon reads it. */
  function frameEvent(sessionId: string) {
    const frames: Array<ReturnType<typeof parseSecurityEvent>> = [];
    const decoder = new AmiFrameDecoder({ frame: (f) => frames.push(parseSecurityEvent(f, 0, false)), banner: () => {}, malformed: () => {} });
    decoder.push(Buffer.from(`Event: ChallengeResponseFailed\r\nService: PJSIP\r\nAccountID: 1001\r\nSessionID: ${sessionId}\r\nLocalAddress: IPV4/UDP/192.0.2.1/5060\r\nRemoteAddress: IPV4/UDP/203.0.113.66/5060\r\n\r\n`));
    return frames;
  }

  it('keeps a value with quotes, commas and look-alikes a value', () => {
    const [r] = frameEvent('x",RemoteAddress="IPV4/UDP/198.51.100.7/2222\\"; RemoteAddress: IPV4/UDP/198.51.100.7/1');
    expect(r!.ok && r!.event.remote.ip.text).toBe('203.0.113.66');
  });

  it('uses neither address when a value made a RemoteAddress field of itself (a line break in it)', () => {
    for (const sessionId of ['x\nRemoteAddress: IPV4/UDP/198.51.100.7/2222', 'x\r\nLocalAddress: IPV4/UDP/198.51.100.7/5060']) {
      const [r] = frameEvent(sessionId);
      expect(r).toMatchObject({ ok: false, kind: 'forged-field' });
    }
  });
});

describe('Pipeline counts', () => {
  it('keeps a bounded number of service names, however many a peer makes up', () => {
    const { pipeline } = buildCore(parseConfig('{}', 'test'), createLogger('silent', 'stderr'), { useEventTime: false });
    for (let i = 0; i < 2000; i++) pipeline.ingest(recordReader({ ...base, Event: 'InvalidAccountID', Service: i === 0 ? 'PJSIP' : `made-up-${i}` }), i);
    const keys = [...pipeline.eventsByKind.keys()];
    expect(keys.length).toBe(17);
    expect(keys).toContain('PJSIP/InvalidAccountID');
    expect(pipeline.eventsByKind.get('other/InvalidAccountID')).toBe(2000 - 16);
  });
});
