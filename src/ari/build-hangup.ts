import path from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { CallHangup } from './hangup.js';
import { readAriSettings } from './settings.js';

/** ARI hang-ups, if enabled and Asterisk has the guard's ARI user; else why not, once. */
export function buildHangup(config: Config, log: Logger): CallHangup | undefined {
  if (!config.ari.enabled) return undefined;
  const a = config.ari;
  const settings = a.url !== undefined && a.password !== undefined ? { url: a.url.replace(/\/+$/, ''), username: a.username, password: a.password } : readAriSettings(path.dirname(config.ami.manager_conf), a.username);
  if ('missing' in settings) {
    log.warn({ reason: settings.missing }, "ARI hang-up of banned sources' calls is off: " + settings.missing);
    return undefined;
  }
  return new CallHangup(settings, log);
}
