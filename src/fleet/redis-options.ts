import { readFileSync } from 'node:fs';
import type { RedisClientOptions } from 'redis';
import type { Config } from '../config/schema.js';
import { GuardError } from '../errors.js';

/**
 * How every fleet connection reaches Redis: the URL (user and password in it), a bounded
 * reconnect backoff, and for rediss:// the CA that signed Redis's certificate when it is not
 * one the system trusts (`fleet.ca`: a private CA, as most Redis TLS setups use).
 */
export function redisClientOptions(fleet: NonNullable<Config['fleet']>, reconnect = true): RedisClientOptions {
  let ca: string | undefined;
  if (fleet.ca !== undefined) {
    try {
      ca = readFileSync(fleet.ca, 'utf8');
    } catch (e) {
      throw new GuardError('AG_ERR_CONFIG_INVALID', `fleet.ca: cannot read ${fleet.ca}: ${(e as Error).message}; give the PEM file of the CA that signed Redis's certificate`);
    }
  }
  const tls = fleet.redis.startsWith('rediss://');
  return {
    url: fleet.redis,
    socket: {
      connectTimeout: 2000,
      reconnectStrategy: reconnect ? (retries: number) => Math.min(100 * 2 ** retries, 2000) : false,
      ...(tls ? { tls: true as const, ...(ca !== undefined ? { ca } : {}) } : {}),
    },
  };
}
