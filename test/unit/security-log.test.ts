import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { recordReader } from '../../src/events/fields.js';
import { parseSecurityEvent } from '../../src/events/parse-event.js';
import { parseSecurityLogLine } from '../../src/events/security-log.js';
import { createLogger } from '../../src/log.js';
import { replayFile } from '../../src/replay.js';

const PREFIX = '[Nov 25 06:02:18] SECURITY[19048] res_security_log.c: ';
const GENUINE = 'IPV4/UDP/203.0.113.66/5060';
const INNOCENT = '198.51.100.7';

/** A line as Asterisk 22 writes it, with the sender's words in `values`. */
function line(kind: 'ChallengeResponseFailed' | 'InvalidPassword' | 'SuccessfulAuth', values: Record<string, string> = {}): string {
  const v = { AccountID: '1001', SessionID: '1114055990', Response: '02b596e9b8ca963aa6bd53ef5a17560b', ReceivedChallenge: '1795586538/8f8d', ReceivedHash: 'c911197f', UsingPassword: '1', ...values };
  const head = `SecurityEvent="${kind}",EventTV="2026-11-25T06:02:18.268+0000",Severity="Error",Service="${kind === 'SuccessfulAuth' ? 'AMI' : 'PJSIP'}",EventVersion="1",AccountID="${v.AccountID}",SessionID="${v.SessionID}",LocalAddress="IPV4/UDP/192.0.2.1/5060",RemoteAddress="${GENUINE}"`;
  const tail =
    kind === 'ChallengeResponseFailed'
      ? `,Challenge="1795586538/8f8d62dd72a72b686ac45a27bf43d51e",Response="${v.Response}",ExpectedResponse=""`
      : kind === 'InvalidPassword'
        ? `,Challenge="1795586538/8f8d62dd72a72b686ac45a27bf43d51e",ReceivedChallenge="${v.ReceivedChallenge}",ReceivedHash="${v.ReceivedHash}"`
        : `,UsingPassword="${v.UsingPassword}",SessionTV="2026-11-25T06:02:17.478+0000"`;
  return PREFIX + head + tail;
}

// What a sender can put in a field it writes: look-alike pairs, quotes, commas, backslashes, line breaks.
const PAYLOADS: Record<string, string> = {
  'look-alike pair': `x",LocalAddress="IPV4/UDP/192.0.2.1/5060",RemoteAddress="IPV4/UDP/${INNOCENT}/2222`,
  'look-alike remote only': `x",RemoteAddress="IPV4/UDP/${INNOCENT}/2222`,
  'with the event fields after it': `x",LocalAddress="IPV4/UDP/192.0.2.1/5060",RemoteAddress="IPV4/UDP/${INNOCENT}/2222",Challenge="1/2`,
  'commas and equals': `a,b=c,RemoteAddress=IPV4/UDP/${INNOCENT}/1,"",RemoteAddress="IPV4/UDP/${INNOCENT}/2`,
  backslashes: `x\\",RemoteAddress=\\"IPV4/UDP/${INNOCENT}/2222\\"`,
  'a line break': `x\n",LocalAddress="IPV4/UDP/192.0.2.1/5060",RemoteAddress="IPV4/UDP/${INNOCENT}/2222`,
};

const FIELDS: ReadonlyArray<readonly [Parameters<typeof line>[0], string]> = [
  ['ChallengeResponseFailed', 'AccountID'],
  ['ChallengeResponseFailed', 'SessionID'],
  ['ChallengeResponseFailed', 'Response'],
  ['InvalidPassword', 'ReceivedChallenge'],
  ['InvalidPassword', 'ReceivedHash'],
  ['SuccessfulAuth', 'AccountID'],
  ['SuccessfulAuth', 'UsingPassword'],
];

describe('security log lines with the sender’s words in them', () => {
  it('reads every field of an honest line, and calls it honest', () => {
    const r = parseSecurityLogLine(line('ChallengeResponseFailed'));
    expect(r).toMatchObject({ ok: true, forged: false, fields: { Event: 'ChallengeResponseFailed', AccountID: '1001', RemoteAddress: GENUINE, Response: '02b596e9b8ca963aa6bd53ef5a17560b', ExpectedResponse: '' } });
  });

  for (const [kind, field] of FIELDS) {
    for (const [name, payload] of Object.entries(PAYLOADS)) {
      it(`${kind} ${field} holding ${name}: the address Asterisk wrote wins`, () => {
        const r = parseSecurityLogLine(line(kind, { [field]: payload }));
        expect(r.ok).toBe(true);
        if (!r.ok) return;
        expect(r.fields['RemoteAddress']).toBe(GENUINE);
        expect(r.fields[field]).toBe(payload);
        expect(r.forged).toBe(/",(LocalAddress|RemoteAddress|Challenge)="/.test(payload));
      });
    }
  }

  it('never lets a sender forge the nonce echo that proves its address', () => {
    const r = parseSecurityLogLine(line('InvalidPassword', { ReceivedChallenge: 'QQQQQQQQ",Challenge="QQQQQQQQ' }));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.fields['Challenge']).toBe('1795586538/8f8d62dd72a72b686ac45a27bf43d51e');
    const e = parseSecurityEvent(recordReader(r.fields), 0, false);
    expect(e.ok && e.event.roundTrip).toBe(false);
  });

  it('uses neither address when a sender copied a whole genuine-looking tail (two readings fit)', () => {
    const r = parseSecurityLogLine(line('ChallengeResponseFailed', { SessionID: `x",LocalAddress="IPV4/UDP/192.0.2.1/5060",RemoteAddress="IPV4/UDP/${INNOCENT}/2222",Challenge="1795586538/8f8d62dd72a72b686ac45a27bf43d51e",Response="y` }));
    expect(r).toMatchObject({ ok: false, reason: 'forged-field' });
  });

  it('gives up on a line built to make the search explode, quickly', () => {
    const many = Array.from({ length: 60 }, (_, i) => `",K${String.fromCharCode(65 + (i % 26))}${i}="`).join('x');
    const started = performance.now();
    const r = parseSecurityLogLine(line('ChallengeResponseFailed', { Response: many }));
    expect(performance.now() - started).toBeLessThan(1000);
    expect(r.ok ? r.fields['RemoteAddress'] : 'refused').not.toContain(INNOCENT);
  });

  it('refuses what is not a security line', () => {
    for (const text of ['', 'hello', `${PREFIX}SecurityEvent="ChallengeResponseFailed",EventTV="2026`, `${PREFIX}Event="x"`]) {
      expect(parseSecurityLogLine(text).ok, text).toBe(false);
    }
  });

  it('replay scores the genuine sender of forged lines, never the framed address, and counts them', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ag-log-'));
    const file = path.join(dir, 'security.log');
    const lines = Array.from({ length: 5 }, () => line('ChallengeResponseFailed', { SessionID: PAYLOADS['a line break']! }));
    writeFileSync(file, `${lines.join('\n')}\n`);
    const bans: string[] = [];
    const summary = await replayFile(file, parseConfig('{}', 'test'), createLogger('silent', 'stderr'), (d) => d.action === 'ban' && bans.push(d.target.text));
    expect(bans).toEqual(['203.0.113.66']);
    expect(summary.problems.get('forged-field')).toBe(5);
    expect(summary.events).toBe(5);
  });
});
