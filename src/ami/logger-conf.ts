import { existsSync } from 'node:fs';
import path from 'node:path';
import { isTrue, readAsteriskConf } from './asterisk-conf.js';

/** One channel of logger.conf's [logfiles]: a file (its path) or syslog (`syslog.local0`), and which levels go there. */
export interface LogChannel {
  readonly file: string;
  readonly syslog: boolean;
  readonly levels: readonly string[];
}

/**
 * The files logger.conf writes (main/logger.c, make_filename): a name without a leading `/` is
 * in asterisk.conf's astlogdir, `.HOSTNAME` appended with appendhostname; `console` and
 * `syslog.*` are no files. Levels may follow a formatter (`[plain]notice,warning`).
 */
export function loggerChannels(etcDir: string, hostname: string): LogChannel[] {
  const loggerConf = path.join(etcDir, 'logger.conf');
  if (!existsSync(loggerConf)) return [];
  const sections = readAsteriskConf(loggerConf);
  const general = sections.filter((s) => s.name === 'general').flatMap((s) => s.entries);
  const append = general.some((e) => e.key === 'appendhostname' && isTrue(e.value));
  const asteriskConf = path.join(etcDir, 'asterisk.conf');
  const logDir =
    (existsSync(asteriskConf) ? readAsteriskConf(asteriskConf) : [])
      .filter((s) => s.name === 'directories')
      .flatMap((s) => s.entries)
      .find((e) => e.key === 'astlogdir')?.value ?? '/var/log/asterisk';
  return sections
    .filter((s) => s.name === 'logfiles')
    .flatMap((s) => s.entries)
    .filter((e) => e.key.toLowerCase() !== 'console')
    .map((e) => ({
      syslog: /^syslog/i.test(e.key),
      file: /^syslog/i.test(e.key) ? e.key : `${e.key.startsWith('/') ? e.key : path.join(logDir, e.key)}${append ? `.${hostname}` : ''}`,
      levels: e.value.replace(/^\[[a-z]+\]/i, '').split(',').map((l) => l.trim().toLowerCase()).filter(Boolean),
    }));
}

/** Does this channel get the NOTICE lines the failures are written as? */
export function getsNotices(channel: LogChannel): boolean {
  return channel.levels.includes('notice') || channel.levels.includes('*');
}

/** iax.conf's `authdebug` (off by default in chan_iax2): without it IAX2 logs no failed login. */
export function iaxAuthDebug(etcDir: string): boolean | undefined {
  const iaxConf = path.join(etcDir, 'iax.conf');
  if (!existsSync(iaxConf)) return undefined;
  const entry = readAsteriskConf(iaxConf)
    .filter((s) => s.name === 'general')
    .flatMap((s) => s.entries)
    .findLast((e) => e.key === 'authdebug');
  return entry !== undefined && isTrue(entry.value);
}
