import type { Config } from '../config/schema.js';
import { emailChannel, webhookChannel, type Channel } from './channels.js';

/** The alert channels the config names. */
export function buildChannels(config: Config): Channel[] {
  return config.alerts.channels.map((c) =>
    c.type === 'email'
      ? emailChannel({ host: c.host, port: c.port, secure: c.secure, requireTls: c.starttls, rejectUnauthorized: c.reject_unauthorized, user: c.user, pass: c.pass, from: c.from, to: c.to, minSeverity: c.min_severity })
      : webhookChannel({ url: c.url, format: c.format, minSeverity: c.min_severity }),
  );
}
