import { readFileSync } from 'node:fs';
import type { Config } from '../config/schema.js';
import type { AmiClientOptions } from './client.js';
import { readManagerSettings } from './manager-conf.js';

/**
 * The AMI connection: from the guard's config when it names a secret, otherwise from
 * Asterisk's own manager.conf, so a stock install keeps one copy of the secret.
 */
export function resolveAmiOptions(config: Config): AmiClientOptions & { source: string } {
  const ami = config.ami;
  const tlsWanted = ami.tls === undefined ? undefined : ami.tls !== false;
  let host: string;
  let port: number;
  let secret: string;
  let useTls: boolean;
  let source: string;
  if (ami.secret !== undefined) {
    useTls = tlsWanted ?? false;
    host = ami.host ?? '127.0.0.1';
    port = ami.port ?? (useTls ? 5039 : 5038);
    secret = ami.secret;
    source = 'config';
  } else {
    const m = readManagerSettings(ami.manager_conf, ami.username, tlsWanted);
    useTls = m.tls;
    host = ami.host ?? m.host;
    port = ami.port ?? m.port;
    secret = m.secret;
    source = ami.manager_conf;
  }
  const tlsConfig = typeof ami.tls === 'object' ? ami.tls : undefined;
  return {
    host,
    port,
    username: ami.username,
    secret,
    ...(useTls
      ? {
          tls: {
            rejectUnauthorized: tlsConfig?.reject_unauthorized ?? true,
            ...(tlsConfig?.ca ? { ca: readFileSync(tlsConfig.ca) } : {}),
            ...(tlsConfig?.servername ? { servername: tlsConfig.servername } : {}),
          },
        }
      : {}),
    pingIntervalMs: ami.ping_interval,
    loginTimeoutMs: ami.login_timeout,
    reconnectBaseMs: ami.reconnect_base,
    reconnectMaxMs: ami.reconnect_max,
    source,
  };
}
