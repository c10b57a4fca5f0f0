import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { simpleParser } from 'mailparser';
import { pino } from 'pino';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { banAlert, decisionAlert } from '../../src/notify/alert.js';
import { emailChannel, webhookChannel } from '../../src/notify/channels.js';
import { Notifier } from '../../src/notify/notifier.js';
import { parseIpPrefix } from '../../src/net/ip-prefix.js';
import type { BanDecision } from '../../src/policy/decision.js';
import { ManualClock } from '../support/manual-clock.js';
import { until } from '../support/until.js';

// Alerts delivered to real servers started here: an SMTP server (smtp-server, STARTTLS and
// AUTH) and an HTTP receiver on loopback.

function ban(ip: string, step = 0): BanDecision {
  const p = parseIpPrefix(ip);
  if (!p.ok) throw new Error(p.reason);
  return {
    action: 'ban',
    target: p.value,
    time: Date.UTC(2026, 10, 25, 6, 3, 59),
    durationMs: 600_000,
    step,
    reason: 'brute-force',
    origin: 'auto',
    replaces: false,
    note: undefined,
    evidence: { source: ip, trigger: 'burst', score: 5, slowScore: 5, events: { ChallengeResponseFailed: 5 }, accounts: ['1001'], services: ['PJSIP'], firstSeen: Date.UTC(2026, 10, 25, 6, 3, 58), lastSeen: Date.UTC(2026, 10, 25, 6, 3, 59) },
  };
}

const mails: Array<{ subject: string; text: string; user: string | undefined }> = [];
let smtp: SMTPServer;
let smtpPort = 0;

interface Received {
  body: Record<string, unknown>;
}
class Receiver {
  readonly got: Received[] = [];
  private server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += String(c)));
    req.on('end', () => {
      this.got.push({ body: JSON.parse(data) as Record<string, unknown> });
      res.writeHead(204).end();
    });
  });
  async listen(port = 0): Promise<number> {
    await new Promise<void>((r) => this.server.listen(port, '127.0.0.1', () => r()));
    return (this.server.address() as AddressInfo).port;
  }
  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  return { lines, log: pino({}, new Writable({ write: (c, _e, done) => (lines.push(JSON.parse(String(c)) as Record<string, unknown>), done()) })) };
}

const fast = (clock: ManualClock) => ({ digestIntervalMs: 400, retryDelaysMs: [200, 400, 800], clock });

describe('alerts', () => {
  beforeAll(async () => {
    smtp = new SMTPServer({
      authOptional: false,
      onAuth(auth, _session, cb) {
        if (auth.username === 'guard' && auth.password === 's3cret') cb(null, { user: auth.username });
        else cb(new Error('bad credentials'));
      },
      onData(stream, session, cb) {
        void simpleParser(stream).then((m) => {
          mails.push({ subject: m.subject ?? '', text: m.text ?? '', user: session.user as string | undefined });
          cb();
        });
      },
    });
    await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', () => r()));
    smtpPort = (smtp.server.address() as AddressInfo).port;
  });
  afterAll(() => {
    smtp.close();
  });

  it('e-mails a ban with its evidence over STARTTLS with AUTH', async () => {
    const channel = emailChannel({ host: '127.0.0.1', port: smtpPort, secure: false, requireTls: true, rejectUnauthorized: false, user: 'guard', pass: 's3cret', from: 'guard@pbx.example', to: ['admin@example.org'], minSeverity: 'info' });
    const n = new Notifier([channel], capture().log, fast(new ManualClock()));
    n.notify(banAlert(ban('203.0.113.66', 1)));
    await n.flush();
    expect(mails).toHaveLength(1);
    expect(mails[0]).toMatchObject({ subject: 'asterisk-guard: banned 203.0.113.66', user: 'guard' });
    expect(mails[0]!.text).toContain('banned 203.0.113.66 for 10m (reason brute-force, escalation step 2)');
    expect(mails[0]!.text).toContain('events: ChallengeResponseFailed 5');
    expect(mails[0]!.text).toContain('accounts tried: 1001');
    expect(mails[0]!.text).toContain('first seen 2026-11-25T06:03:58.000Z, last seen 2026-11-25T06:03:59.000Z');
  });

  it('keeps what an attacker wrote text in every channel: no Slack link or mention, no Markdown, no header (issue 24)', async () => {
    const hostile = '<!channel> <https://evil.example/unblock|click to unblock> @all [x](https://evil.example) `';
    const alert = { kind: 'stale-password' as const, severity: 'warning' as const, time: Date.UTC(2026, 11, 4), title: `asterisk-guard: account ${hostile}\r\nBcc: victim@example.org failing`, lines: [`accounts tried: ${hostile}`] };
    const r = new Receiver();
    const port = await r.listen();
    const channels = [
      webhookChannel({ url: `http://127.0.0.1:${port}/slack`, format: 'slack', minSeverity: 'info' }),
      webhookChannel({ url: `http://127.0.0.1:${port}/mattermost`, format: 'mattermost', minSeverity: 'info' }),
      emailChannel({ host: '127.0.0.1', port: smtpPort, secure: false, requireTls: true, rejectUnauthorized: false, user: 'guard', pass: 's3cret', from: 'guard@pbx.example', to: ['admin@example.org'], minSeverity: 'info' }),
    ];
    const n = new Notifier(channels, capture().log, fast(new ManualClock()));
    const mailsBefore = mails.length;
    n.notify(alert);
    await n.flush();
    const [slack, mattermost] = r.got.map((g) => String(g.body['text']));
    // Slack: no control sequence survives; the words are all there.
    expect(slack).not.toMatch(/<[!h]/);
    expect(slack).toContain('&lt;!channel&gt; &lt;https://evil.example/unblock|click to unblock&gt;');
    expect(slack).not.toContain('\r');
    // Mattermost: the title in inline code, the lines in a code block no backtick can close.
    expect(mattermost).toMatch(/^`asterisk-guard: account [^`]+`\n```\naccounts tried: [^`]+\n```$/);
    expect(mails.length - mailsBefore).toBe(1);
    const mail = mails.at(-1)!;
    expect(mail.subject).toContain('Bcc: victim@example.org failing');
    expect(mail.subject).not.toMatch(/[\r\n]/);
    await r.close();
  });

  it('turns a wave of 1,000 bans into a first alert and one digest per interval', async () => {
    const r = new Receiver();
    const port = await r.listen();
    const clock = new ManualClock();
    const n = new Notifier([webhookChannel({ url: `http://127.0.0.1:${port}/hook`, format: 'json', minSeverity: 'info' })], capture().log, fast(clock));
    for (let i = 0; i < 1000; i++) n.notify(banAlert(ban(`198.18.${i >> 8}.${i & 255}`)));
    await clock.advance(399);
    await until(() => r.got.length === 1);
    expect(r.got).toHaveLength(1);
    await clock.advance(1);
    await until(() => r.got.length === 2);
    expect(r.got).toHaveLength(2);
    expect(r.got[0]!.body['subject']).toBe('asterisk-guard: banned 198.18.0.0');
    const digest = r.got[1]!.body as { subject: string; lines: string[]; alerts: unknown[] };
    expect(digest.subject).toBe('asterisk-guard: 999 more bans');
    expect(digest.alerts).toHaveLength(999);
    expect(digest.lines.at(-1)).toBe('... and 949 more (asterisk-guard list)');
    await clock.advance(400);
    n.notify(banAlert(ban('203.0.113.1')));
    await n.flush();
    expect(r.got).toHaveLength(3);
    await r.close();
  });

  it('retries after a refused connection, and delivers once the receiver is up', async () => {
    const probe = new Receiver();
    const port = await probe.listen();
    await probe.close();
    const { log, lines } = capture();
    const clock = new ManualClock();
    const n = new Notifier([webhookChannel({ url: `http://127.0.0.1:${port}/hook`, format: 'slack', minSeverity: 'info' })], log, fast(clock));
    n.notify(banAlert(ban('203.0.113.66')));
    await until(() => lines.some((l) => l['msg'] === 'alert delivery failed; retrying'));
    const r = new Receiver();
    await r.listen(port);
    await clock.advance(200);
    await n.flush();
    expect(lines.some((l) => l['msg'] === 'alert delivery failed; retrying')).toBe(true);
    // A webhook's path is its secret: the log names the host only.
    expect(JSON.stringify(lines)).not.toContain('/hook');
    expect(JSON.stringify(lines)).toContain(`127.0.0.1:${port}: connect ECONNREFUSED`);
    expect(r.got).toHaveLength(1);
    expect(String(r.got[0]!.body['text'])).toMatch(/^\*asterisk-guard: banned 203\.0\.113\.66\*\nbanned 203\.0\.113\.66 for 10m/);
    expect(n.stats).toEqual({ sent: 1, failed: 0 });
    await r.close();
  });

  it('keeps delivering to the other channels when one fails, and honours minimum severities', async () => {
    const r = new Receiver();
    const port = await r.listen();
    const dead = new Receiver();
    const deadPort = await dead.listen();
    await dead.close();
    const { log, lines } = capture();
    const clock = new ManualClock();
    const n = new Notifier(
      [
        webhookChannel({ url: `http://127.0.0.1:${deadPort}/`, format: 'json', minSeverity: 'info' }),
        webhookChannel({ url: `http://127.0.0.1:${port}/critical`, format: 'json', minSeverity: 'critical' }),
      ],
      log,
      { ...fast(clock), retryDelaysMs: [50] },
    );
    n.notify(banAlert(ban('203.0.113.66')));
    n.notify(decisionAlert({ action: 'alert', severity: 'critical', reason: 'guessed-password', time: 0, text: '203.0.113.50 authenticated as 1001 after 3 failures', target: undefined, evidence: undefined }));
    // The dead channel delivers in order: each message fails, waits its one retry, gives up.
    const retrying = () => lines.filter((l) => l['msg'] === 'alert delivery failed; retrying').length;
    await until(() => retrying() === 1);
    await clock.advance(50);
    await until(() => retrying() === 2);
    await clock.advance(50);
    await n.flush();
    expect(r.got.map((g) => g.body['subject'])).toEqual(['asterisk-guard: 203.0.113.50 authenticated as 1001 after 3 failures']);
    expect(n.stats.failed).toBe(2);
    expect(lines.filter((l) => l['msg'] === 'alert not delivered; giving up on this message')).toHaveLength(2);
    await r.close();
  });
});
