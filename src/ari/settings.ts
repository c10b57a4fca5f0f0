import path from 'node:path';
import { isTrue, readAsteriskConf, ConfParseError, type ConfSection } from '../ami/asterisk-conf.js';
import { GuardError } from '../errors.js';

export interface AriSettings {
  /** Base URL of the REST API, ending in /ari. */
  readonly url: string;
  readonly username: string;
  readonly password: string;
}

function value(sections: readonly ConfSection[], name: string, key: string): string | undefined {
  let found: string | undefined;
  for (const s of sections) if (s.name === name) for (const e of s.entries) if (e.key === key) found = e.value;
  return found;
}

/**
 * ARI's address and the guard's ARI user, from Asterisk's http.conf and ari.conf (beside
 * manager.conf). Undefined when ARI is not set up for the guard: hang-ups are then skipped,
 * with one warning naming what to add.
 */
export function readAriSettings(confDir: string, username: string): AriSettings | { missing: string } {
  let http: ConfSection[];
  let ari: ConfSection[];
  try {
    http = readAsteriskConf(path.join(confDir, 'http.conf'));
    ari = readAsteriskConf(path.join(confDir, 'ari.conf'));
  } catch (e) {
    if (e instanceof ConfParseError) return { missing: e.message };
    throw e;
  }
  if (!isTrue(value(http, 'general', 'enabled') ?? 'no')) return { missing: `${confDir}/http.conf: add \`enabled = yes\` under [general]` };
  if (!isTrue(value(ari, 'general', 'enabled') ?? 'yes')) return { missing: `${confDir}/ari.conf: ARI is disabled under [general]` };
  const password = value(ari, username, 'password');
  if (password === undefined) return { missing: `${confDir}/ari.conf: no [${username}] user (type = user, password = ...): see asterisk-conf/ari.conf` };
  if ((value(ari, username, 'password_format') ?? 'plain') !== 'plain') {
    return { missing: `${confDir}/ari.conf: [${username}] has a crypt password: set ari.password in the guard's config` };
  }
  const bind = value(http, 'general', 'bindaddr') ?? '127.0.0.1';
  const host = bind === '0.0.0.0' || bind === '' ? '127.0.0.1' : bind === '::' ? '[::1]' : bind.includes(':') ? `[${bind}]` : bind;
  const port = value(http, 'general', 'bindport') ?? '8088';
  const prefix = (value(http, 'general', 'prefix') ?? '').replace(/^\/+|\/+$/g, '');
  return { url: `http://${host}:${port}/${prefix ? `${prefix}/` : ''}ari`, username, password };
}

export function ariError(message: string): GuardError {
  return new GuardError('AG_ERR_ARI_REQUEST', message);
}
