import type { Alert, Severity } from './alert.js';

/** What one delivery carries: one alert, or a digest of several bans. */
export interface Message {
  readonly subject: string;
  readonly lines: readonly string[];
  readonly alerts: readonly Alert[];
}

export interface Channel {
  readonly name: string;
  readonly minSeverity: Severity;
  send(message: Message): Promise<void>;
}

export interface EmailOptions {
  readonly host: string;
  readonly port: number;
  /** TLS from the first byte (port 465). */
  readonly secure: boolean;
  /** Refuse to send unless the server offers STARTTLS. */
  readonly requireTls: boolean;
  readonly rejectUnauthorized: boolean;
  readonly user: string | undefined;
  readonly pass: string | undefined;
  readonly from: string;
  readonly to: readonly string[];
  readonly minSeverity: Severity;
}

export function emailChannel(o: EmailOptions): Channel {
  // Loaded when an e-mail channel is configured: nodemailer costs ~15 MB of resident memory.
  const transport = import('nodemailer').then(({ default: nodemailer }) => nodemailer.createTransport({
    host: o.host,
    port: o.port,
    secure: o.secure,
    requireTLS: o.requireTls,
    tls: { rejectUnauthorized: o.rejectUnauthorized },
    ...(o.user !== undefined ? { auth: { user: o.user, pass: o.pass ?? '' } } : {}),
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 20_000,
  }));
  return {
    name: `email ${o.to.join(',')} via ${o.host}:${o.port}`,
    minSeverity: o.minSeverity,
    async send(m) {
      await (await transport).sendMail({ from: o.from, to: [...o.to], subject: oneLine(m.subject), text: `${m.lines.join('\n')}\n` });
    },
  };
}

export interface WebhookOptions {
  readonly url: string;
  /** json: the alerts as JSON; slack, mattermost: their incoming webhooks' `{ "text": ... }`. */
  readonly format: 'json' | 'slack' | 'mattermost';
  readonly minSeverity: Severity;
}

// Alert texts carry what attackers chose (account names, user agents): in a chat message they
// must stay text. Slack reads `<!channel>` and `<https://x|label>` before any formatting, and
// asks for &, < and > escaped; Mattermost renders Markdown and @-mentions, none of which it
// does inside code.

/** An e-mail subject, a chat title: one line (a CR or LF in a header starts a new header). */
function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]+/g, ' ');
}

function slackText(m: Message): string {
  const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return `*${escape(oneLine(m.subject))}*\n${m.lines.map(escape).join('\n')}`;
}

function mattermostText(m: Message): string {
  // A backtick would close the code; a look-alike keeps the text readable.
  const code = (s: string) => s.replace(/`/g, 'ʼ');
  return `\`${code(oneLine(m.subject))}\`\n\`\`\`\n${m.lines.map(code).join('\n')}\n\`\`\``;
}

export function webhookChannel(o: WebhookOptions): Channel {
  const host = new URL(o.url).host;
  return {
    name: `webhook ${host}`,
    minSeverity: o.minSeverity,
    async send(m) {
      const body =
        o.format === 'slack'
          ? { text: slackText(m) }
          : o.format === 'mattermost'
            ? { text: mattermostText(m) }
            : { subject: m.subject, lines: m.lines, alerts: m.alerts.map((a) => ({ ...a, time: new Date(a.time).toISOString() })) };
      let response: Response;
      try {
        response = await fetch(o.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
      } catch (e) {
        // fetch's messages may quote the URL, and a webhook's path is its secret: only the host is said.
        const cause = (e as Error & { cause?: Error }).cause;
        throw new Error(`${host}: ${(cause?.message ?? (e as Error).message).split(o.url).join('<url>')}`);
      }
      if (!response.ok) throw new Error(`${host} answered ${response.status} ${response.statusText}`);
    },
  };
}
