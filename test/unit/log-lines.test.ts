import { describe, expect, it } from 'vitest';
import { LogLines } from '../../src/source/log-lines.js';
import { readLogPrefix } from '../../src/source/log-prefix.js';

// Lines as Asterisk 22 writes them to messages.log (default formatter), from manager.c,
// res_pjsip_session.c, chan_iax2.c and pjsip_distributor.c's format strings.
const at = (s: number) => `[Dec  4 18:09:${String(s).padStart(2, '0')}]`;
const TCP_UNKNOWN = (lwp: number, s = 1) => [
  `${at(s)} NOTICE[${lwp}] manager.c: 203.0.113.66 tried to authenticate with nonexistent user 'admin'`,
  `${at(s)} NOTICE[${lwp}] manager.c: 203.0.113.66 failed to authenticate as 'admin'`,
];
const DIGEST_UNKNOWN = (lwp: number, s = 2) => `${at(s)} NOTICE[${lwp}] manager.c: 203.0.113.77 tried to authenticate with nonexistent user 'admin'`;
const ANONYMOUS = `${at(3)} NOTICE[556] res_pjsip_session.c:  anonymous: Call (UDP:203.0.113.88:41037) to extension '0097278789911' rejected because extension not found in context 'from-anon'.`;
const PJSIP = `${at(4)} NOTICE[557] res_pjsip/pjsip_distributor.c: Request 'REGISTER' from '<sip:1003@192.0.2.10>' failed for '203.0.113.99:5060' (callid: abc) - Failed to authenticate`;
const IAX = `${at(5)} NOTICE[558] chan_iax2.c: Host 203.0.113.55 failed MD5 authentication for '2001' (x != y)`;
const SECURITY = `${at(6)} SECURITY[559] res_security_log.c: SecurityEvent="InvalidAccountID",EventTV="2026-12-04T18:09:06.000+0000",Severity="Error",Service="PJSIP",EventVersion="1",AccountID="9",SessionID="x",LocalAddress="IPV4/UDP/192.0.2.10/5060",RemoteAddress="IPV4/UDP/203.0.113.44/5060"`;

function run(lines: readonly string[], besideAmi: boolean, finish: (r: LogLines) => void = (r) => r.end()) {
  const events: string[] = [];
  const counts = new Map<string, number>();
  const reader = new LogLines(
    {
      fields: (f) => events.push(`${f.get('Event')} ${f.get('Service')} ${f.get('RemoteAddress')}`),
      malformed: (k) => events.push(`malformed ${k}`),
      line: (k) => void counts.set(k, (counts.get(k) ?? 0) + 1),
    },
    { besideAmi: () => besideAmi },
  );
  for (const line of lines) reader.push(readLogPrefix(line, 2026), line);
  finish(reader);
  return { events, counts: Object.fromEntries(counts) };
}

describe('LogLines: AMI logins in manager.c lines', () => {
  it('reads a TCP login as one failure (its two lines), a digest login as one (its one line)', () => {
    const { events, counts } = run([...TCP_UNKNOWN(700), DIGEST_UNKNOWN(701)], false);
    expect(events).toEqual(['InvalidAccountID AMI IPV4/203.0.113.66/0', 'InvalidAccountID AMI IPV4/203.0.113.77/0']);
    expect(counts).toMatchObject({ 'ami-unknown-user': 2, 'ami-wrong-password': 1, 'same-attempt': 1 });
  });

  it("pairs the lines by their thread when sessions interleave", () => {
    const [a1, a2] = TCP_UNKNOWN(700);
    const { events } = run([a1!, DIGEST_UNKNOWN(701), a2!], false);
    expect(events.sort()).toEqual(['InvalidAccountID AMI IPV4/203.0.113.66/0', 'InvalidAccountID AMI IPV4/203.0.113.77/0']);
  });

  it('does not pair a closing line for another user or address', () => {
    const lines = [`${at(1)} NOTICE[700] manager.c: 203.0.113.66 tried to authenticate with nonexistent user 'admin'`, `${at(1)} NOTICE[700] manager.c: 203.0.113.66 failed to authenticate as 'root'`];
    expect(run(lines, false).events).toEqual(['InvalidAccountID AMI IPV4/203.0.113.66/0', 'InvalidPassword AMI IPV4/203.0.113.66/0']);
  });
});

describe('LogLines beside AMI (the live follower)', () => {
  it('scores only what AMI never reports: the anonymous call, the digest login, IAX2', () => {
    const { events, counts } = run([...TCP_UNKNOWN(700), DIGEST_UNKNOWN(701), ANONYMOUS, PJSIP, IAX, SECURITY], true);
    expect(events.sort()).toEqual(['ChallengeResponseFailed IAX2 IPV4/203.0.113.55/0', 'InvalidAccountID AMI IPV4/203.0.113.77/0', 'InvalidAccountID PJSIP IPV4/UDP/203.0.113.88/41037']);
    expect(counts).toMatchObject({ 'reported-by-ami': 2, security: 1 });
  });

  it('holds a lone manager.c line until its thread closes it or the wait ends', () => {
    const seen: string[] = [];
    const reader = new LogLines({ fields: (f) => seen.push(String(f.get('RemoteAddress'))), malformed: () => {} }, { besideAmi: () => true });
    const [a1, a2] = TCP_UNKNOWN(700);
    reader.push(readLogPrefix(a1!, 2026), a1!, 1000);
    reader.push(readLogPrefix(DIGEST_UNKNOWN(701), 2026), DIGEST_UNKNOWN(701), 1000);
    reader.flush(1000);
    reader.expire(1100, 250);
    expect(seen).toEqual([]);
    reader.push(readLogPrefix(a2!, 2026), a2!, 1200);
    reader.flush(1200);
    reader.expire(1250, 250);
    expect(seen).toEqual(['IPV4/203.0.113.77/0']);
    reader.end();
    expect(seen).toEqual(['IPV4/203.0.113.77/0']);
  });
});
