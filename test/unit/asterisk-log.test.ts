import { mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { readLogFailure } from '../../src/events/log-failures.js';
import { createLogger } from '../../src/log.js';
import { replayFile } from '../../src/replay.js';
import { readLogPrefix, type LogEntry } from '../../src/source/log-prefix.js';

// Lines written from Asterisk's own format strings (main/logger.c's formatters; the ast_log
// calls of pjsip_distributor.c, res_pjsip_session.c, chan_sip.c, manager.c, chan_iax2.c and
// acl.c, 13 to 22), in the prefixes admins' logs have (issue 25).

const PJSIP = "Request 'REGISTER' from '<sip:1003@192.0.2.1>' failed for '203.0.113.66:5060' (callid: a84b4c76e66710) - Failed to authenticate";

describe("Asterisk's logger prefixes", () => {
  const at = (entry: LogEntry | undefined) => entry && { ...entry, time: entry.time === undefined ? undefined : new Date(entry.time).toISOString() };
  it('reads the file formatters, with each dateformat and with or without a call id', () => {
    expect(at(readLogPrefix(`[Dec  4 18:09:41] NOTICE[556] res_pjsip/pjsip_distributor.c: ${PJSIP}`, 2026))).toMatchObject({ level: 'NOTICE', file: 'res_pjsip/pjsip_distributor.c', message: PJSIP });
    expect(readLogPrefix('[Dec  4 18:09:41] NOTICE[556] x.c: m', 2026)!.time).toBe(new Date(2026, 11, 4, 18, 9, 41).getTime());
    expect(readLogPrefix('[2026-12-04 18:09:41] NOTICE[556][C-0000001a] res_pjsip_session.c: m', 2026)).toMatchObject({ file: 'res_pjsip_session.c', message: 'm', time: new Date(2026, 11, 4, 18, 9, 41).getTime() });
    expect(readLogPrefix('[2026-12-04 18:09:41.123] WARNING[556]: chan_sip.c:28908 handle_request_register: m', 2026)).toMatchObject({ level: 'WARNING', file: 'chan_sip.c', message: 'm' });
  });

  it('reads syslog and the journal (short and json)', () => {
    expect(readLogPrefix(`Jul 08 22:25:10 host asterisk[112836]: NOTICE[112882]: res_pjsip/pjsip_distributor.c:688 in log_failed_request: ${PJSIP}`, 2026)).toMatchObject({ file: 'res_pjsip/pjsip_distributor.c', message: PJSIP });
    expect(readLogPrefix('2026-12-04T18:09:41.000000+00:00 pbx asterisk[1]: SECURITY[2]: res_security_log.c:114 in security_event_stasis_cb: SecurityEvent="InvalidAccountID"', 2026)).toMatchObject({ level: 'SECURITY', time: Date.parse('2026-12-04T18:09:41Z') });
    const json = JSON.stringify({ MESSAGE: `NOTICE[556]: res_pjsip/pjsip_distributor.c:688 in log_failed_request: ${PJSIP}`, __REALTIME_TIMESTAMP: '1796407781000000', SYSLOG_IDENTIFIER: 'asterisk' });
    expect(readLogPrefix(json, 2026)).toMatchObject({ file: 'res_pjsip/pjsip_distributor.c', message: PJSIP, time: 1796407781000 });
  });

  it("is undefined for what Asterisk's logger did not write: a continuation, another program's line, broken json", () => {
    for (const line of ['  continued', 'Dec  4 18:09:41 host sshd[1]: Failed password for root', '{"MESSAGE": 1}', '{not json', '[Dec  4 18:09:41] NOTICE[556] no-file: m']) expect(readLogPrefix(line, 2026)).toBeUndefined();
  });
});

const entry = (file: string, message: string): LogEntry => ({ time: Date.parse('2026-12-04T18:09:41Z'), level: 'NOTICE', lwp: '556', file, message });
const read = (file: string, message: string) => readLogFailure(entry(file, message));

describe('failure lines, as the security events they are', () => {
  it('maps each kind to the failure the scores weigh, with the address in AMI form', () => {
    const cases: Array<[string, string, Record<string, string>]> = [
      ['res_pjsip/pjsip_distributor.c', PJSIP, { Event: 'ChallengeResponseFailed', Service: 'PJSIP', AccountID: '1003', RemoteAddress: 'IPV4/203.0.113.66/5060' }],
      ['res_pjsip/pjsip_distributor.c', "Request 'INVITE' from '<sip:100@pbx>' failed for '[2001:db8::66]:5060' (callid: x) - No matching endpoint found after 3 tries in 0.512 ms", { Event: 'InvalidAccountID', RemoteAddress: 'IPV6/2001:db8::66/5060' }],
      ['res_pjsip/pjsip_distributor.c', "Request from '<sip:100@pbx>' failed for '203.0.113.66:5060' (callid: x) - No matching endpoint found", { Event: 'InvalidAccountID' }],
      ['res_pjsip_session.c', " anonymous: Call (UDP:203.0.113.66:41037) to extension '0097278789911' rejected because extension not found in context 'from-anon'.", { Event: 'InvalidAccountID', RemoteAddress: 'IPV4/UDP/203.0.113.66/41037', AccountID: '0097278789911' }],
      ['res_pjsip_session.c', "Call from 'anonymous' (UDP:203.0.113.66:41037) to extension '9011442079460123' rejected because extension not found in context 'from-anon'.", { Event: 'InvalidAccountID' }],
      ['chan_sip.c', "Registration from '\"Bob\" <sip:1003@192.0.2.1>' failed for '203.0.113.66:5060' - Wrong password", { Event: 'InvalidPassword', Service: 'SIP', AccountID: '1003' }],
      ['chan_sip.c', "Call from '' (203.0.113.66:5060) to extension '011972' rejected because extension not found in context 'default'.", { Event: 'InvalidAccountID', Service: 'SIP' }],
      ['manager.c', "203.0.113.66 tried to authenticate with nonexistent user 'admin'", { Event: 'InvalidAccountID', Service: 'AMI', AccountID: 'admin', RemoteAddress: 'IPV4/203.0.113.66/0' }],
      ['manager.c', "203.0.113.66 failed to pass IP ACL as 'guard'", { Event: 'FailedACL' }],
      ['chan_iax2.c', "Host 203.0.113.66 failed MD5 authentication for '1003' (abc != def)", { Event: 'ChallengeResponseFailed', Service: 'IAX2' }],
      ['chan_iax2.c', "No registration for peer 'ghost' (from 203.0.113.66)", { Event: 'InvalidAccountID' }],
      ['chan_iax2.c', "Peer 'trunk' is not dynamic (from 203.0.113.66)", { Event: 'InvalidAccountID', AccountID: 'trunk' }],
      ['chan_iax2.c', "Host 203.0.113.66 denied access to register peer '2001'", { Event: 'FailedACL', AccountID: '2001' }],
      ['chan_iax2.c', "Rejected dial attempt from 203.0.113.66:4569, request '011@lab' does not exist", { Event: 'InvalidAccountID', RemoteAddress: 'IPV4/203.0.113.66/4569' }],
      ['acl.c', "SIP Peer ACL: Rejecting '203.0.113.66' due to a failure to pass ACL '(BASELINE)'", { Event: 'FailedACL' }],
      ['Ext. s', 'Rejecting unknown SIP connection from 203.0.113.66', { Event: 'InvalidAccountID', RemoteAddress: 'IPV4/203.0.113.66/0' }],
    ];
    for (const [file, message, want] of cases) expect(read(file, message), message).toMatchObject({ ok: true, fields: { ...want, EventTV: '2026-12-04T18:09:41.000Z' } });
    expect(read('chan_sip.c', "Registration from '<sip:1@x>' failed for '203.0.113.66:5060' - Device not configured to use this transport type")).toMatchObject({ ok: true, kind: undefined });
    expect(read('res_pjsip/pjsip_distributor.c', 'Something else entirely')).toBeUndefined();
    expect(read('pbx.c', 'Executing [s@default:1]')).toBeUndefined();
  });

  it("never lets an address in the sender's words frame another: Call-ID, To, extension, user name", () => {
    // The Call-ID comes after Asterisk's address; a pjsip From URI has no space: one reading.
    const callid = "Request 'REGISTER' from '<sip:1003@pbx>' failed for '203.0.113.66:5060' (callid: x' failed for '198.51.100.7:5060' (callid: y) - Failed to authenticate) - Failed to authenticate";
    expect(read('res_pjsip/pjsip_distributor.c', callid)).toMatchObject({ ok: true, fields: { RemoteAddress: 'IPV4/203.0.113.66/5060' } });
    // chan_sip's To header stands before the address, the fixed reason after it.
    const to = "Registration from '<sip:x@y>' failed for '198.51.100.7:5060' - Wrong password' failed for '203.0.113.66:5060' - Wrong password";
    expect(read('chan_sip.c', to)).toMatchObject({ ok: true, fields: { RemoteAddress: 'IPV4/203.0.113.66/5060' } });
    // The extension after the address: the address is the one Asterisk wrote first.
    const exten = " anonymous: Call (UDP:203.0.113.66:41037) to extension '1' rejected because extension not found in context 'x'.' (UDP:198.51.100.7:5060) to extension '2' rejected because extension not found in context 'from-anon'.";
    expect(read('res_pjsip_session.c', exten)).toMatchObject({ ok: true, fields: { RemoteAddress: 'IPV4/UDP/203.0.113.66/41037' } });
    // chan_sip's caller name and extension on both sides: two readings, neither used.
    const both = "Call from 'a' (198.51.100.7:5060) to extension 'b' rejected because extension not found in context 'c'.' (203.0.113.66:5060) to extension 'd' rejected because extension not found in context 'default'.";
    expect(read('chan_sip.c', both)).toMatchObject({ ok: false, reason: 'forged-field' });
  });
});

describe('replay of the logs admins have', () => {
  const log = createLogger('silent', 'stderr');
  const write = (name: string, text: string | Buffer) => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'ag-log-')), name);
    writeFileSync(file, text);
    utimesSync(file, new Date('2026-12-05T00:00:00Z'), new Date('2026-12-05T00:00:00Z'));
    return file;
  };
  const replay = async (file: string) => {
    const bans: string[] = [];
    const summary = await replayFile(file, parseConfig('{}', 'test'), log, (d) => void (d.action === 'ban' && bans.push(d.target.text)));
    return { bans, summary };
  };

  it('bans from the default messages log (NOTICE lines only), counting every line as a kind or as skipped', async () => {
    const lines = [
      'a line of nothing Asterisk wrote',
      '[Dec  4 18:09:40] VERBOSE[556] pbx.c: Executing [s@default:1] NoOp("PJSIP/1002-00000001", "") in new stack',
      ...Array.from({ length: 6 }, (_, i) => `[Dec  4 18:09:4${i}] NOTICE[556] res_pjsip/pjsip_distributor.c: Request 'REGISTER' from '<sip:100${i}@192.0.2.1>' failed for '203.0.113.66:5060' (callid: c${i}) - No matching endpoint found`),
      '  a continuation of the line before',
    ];
    const { bans, summary } = await replay(write('messages.log', `${lines.join('\n')}\n`));
    expect([...summary.problems]).toEqual([]);
    expect(bans).toEqual(['203.0.113.66']);
    expect(summary.format).toBe('asterisk-log');
    expect(Object.fromEntries(summary.lines)).toEqual({ 'not-asterisk': 1, other: 1, 'pjsip-request-failed': 6, continuation: 1 });
    // What a new admin asks first: who, how often, and would it have been banned.
    expect(summary.sources).toEqual([{ address: '203.0.113.66', events: 6, banned: true }]);
    expect(summary.distinctSources).toBe(1);
  });

  it('sums up the sources: most events first, banned by their own ban or their range', async () => {
    const line = (s: number, from: string) => `[Dec  4 18:10:${String(s).padStart(2, '0')}] NOTICE[556] manager.c: ${from} tried to authenticate with nonexistent user 'admin${s}'`;
    const lines = [line(1, '198.51.100.9'), ...Array.from({ length: 7 }, (_, i) => line(10 + i, '203.0.113.66')), line(30, '198.51.100.9')];
    const { summary } = await replay(write('messages', `${lines.join('\n')}\n`));
    expect(summary.sources).toEqual([
      { address: '203.0.113.66', events: 7, banned: true },
      { address: '198.51.100.9', events: 2, banned: false },
    ]);
  });

  it('reads six security-channel lines through syslog as six events (they once vanished as one)', async () => {
    const security = (i: number) =>
      `Jul 08 22:25:1${i} host asterisk[112836]: SECURITY[112882]: res_security_log.c:114 in security_event_stasis_cb: SecurityEvent="InvalidAccountID",EventTV="2026-07-08T22:25:1${i}.000+0000",Severity="Error",Service="PJSIP",EventVersion="1",AccountID="10${i}",SessionID="s${i}",LocalAddress="IPV4/UDP/192.0.2.1/5060",RemoteAddress="IPV4/UDP/203.0.113.67/5060"`;
    const { bans, summary } = await replay(write('syslog', `${Array.from({ length: 6 }, (_, i) => security(i)).join('\n')}\n`));
    expect(summary.events).toBe(6);
    expect(summary.problems.size).toBe(0);
    expect(bans).toEqual(['203.0.113.67']);
  });

  it('reads every line of a file read in several chunks: lines split across reads, CRLF, multi-byte text', async () => {
    // 1 MiB reads: a file of ~3 MiB where lines of different lengths fall across each boundary.
    const noise = (i: number) => `[Dec  4 18:0${i % 10}:00] VERBOSE[556] pbx.c: Executing [${i}@lab:1] NoOp("PJSIP/1002-0000", "réglé ${'x'.repeat(i % 97)}") in new stack`;
    const failure = (i: number) => `[Dec  4 18:09:${String(i % 60).padStart(2, '0')}] NOTICE[556] manager.c: 203.0.113.${80 + (i % 5)} tried to authenticate with nonexistent user 'ünï${i}'`;
    const lines: string[] = [];
    for (let i = 0; i < 24_000; i++) lines.push(i % 1000 === 999 ? failure(Math.floor(i / 1000)) : noise(i));
    const text = `${lines.join('\r\n')}\r\n`;
    expect(Buffer.byteLength(text)).toBeGreaterThan(3 << 20);
    const { summary } = await replay(write('full', text));
    expect(Object.fromEntries(summary.lines)).toEqual({ other: 23_976, 'ami-unknown-user': 24 });
    expect([...summary.problems]).toEqual([]);
    expect(summary.events).toBe(24);
  });

  it('counts a failure once when the log holds its security line and its NOTICE line; reads a .gz rotation', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 3; i++) {
      lines.push(`[Dec  4 18:09:4${i}] SECURITY[556] res_security_log.c: SecurityEvent="ChallengeResponseFailed",EventTV="2026-12-04T18:09:4${i}.000+0000",Severity="Error",Service="PJSIP",EventVersion="1",AccountID="1003",SessionID="s",LocalAddress="IPV4/UDP/192.0.2.1/5060",RemoteAddress="IPV4/UDP/203.0.113.68/5060",Challenge="c",Response="r",ExpectedResponse="e"`);
      lines.push(`[Dec  4 18:09:4${i}] NOTICE[556] res_pjsip/pjsip_distributor.c: Request 'REGISTER' from '<sip:1003@192.0.2.1>' failed for '203.0.113.68:5060' (callid: c) - Failed to authenticate`);
    }
    const { summary } = await replay(write('full.1.gz', gzipSync(`${lines.join('\n')}\n`)));
    expect([...summary.problems]).toEqual([]);
    expect(summary.events).toBe(3);
    expect(summary.lines.get('also-in-security-log')).toBe(3);
  });
});

describe('replay of several files', () => {
  it('replays rotations in time order whatever order they are named in', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ag-rot-'));
    const line = (s: number, n: number) => `[Dec  4 18:09:${String(s).padStart(2, '0')}] NOTICE[556] manager.c: 203.0.113.${n} tried to authenticate with nonexistent user 'admin${s}'`;
    const older = path.join(dir, 'messages.log.1.gz');
    const newer = path.join(dir, 'messages.log');
    writeFileSync(older, gzipSync(`${[1, 2, 3, 4, 5, 6, 7, 8].map((s) => line(s, 70)).join('\n')}\n`));
    writeFileSync(newer, `${[30, 31, 32, 33, 34, 35, 36, 37].map((s) => line(s, 71)).join('\n')}\n`);
    for (const f of [older, newer]) utimesSync(f, new Date('2026-12-05T00:00:00Z'), new Date('2026-12-05T00:00:00Z'));
    const order: string[] = [];
    await replayFile([newer, older], parseConfig('{}', 'test'), createLogger('silent', 'stderr'), (d) => void (d.action === 'ban' && order.push(d.target.text)));
    expect(order).toEqual(['203.0.113.70', '203.0.113.71']);
  });
});
