import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseIpPrefix, type IpPrefix } from '../net/ip-prefix.js';
import { readAsteriskConf } from './asterisk-conf.js';

/** An address Asterisk identifies an endpoint by: a trunk or a phone that has no password to guess. */
export interface IdentifiedAddress {
  readonly prefix: IpPrefix;
  /** `pjsip.conf [itsp-identify]`. */
  readonly section: string;
}

/**
 * The `match =` addresses of pjsip.conf's `type = identify` sections (beside manager.conf).
 * Their traffic is a trunk's: a forged packet "from" one must never get it banned. Host names
 * are left out (and listed): their addresses change. `endpoints`: the endpoints those sections
 * name (trunks: the toll-fraud guard never judges the inbound calls they deliver).
 */
export function readIdentifiedAddresses(confDir: string): { readonly addresses: IdentifiedAddress[]; readonly hostnames: string[]; readonly endpoints: string[] } {
  const file = path.join(confDir, 'pjsip.conf');
  const addresses: IdentifiedAddress[] = [];
  const hostnames: string[] = [];
  const endpoints: string[] = [];
  if (!existsSync(file)) return { addresses, hostnames, endpoints };
  for (const s of readAsteriskConf(file)) {
    if (s.isTemplate || !s.entries.some((e) => e.key === 'type' && e.value.trim() === 'identify')) continue;
    const endpoint = s.entries.findLast((e) => e.key === 'endpoint')?.value.trim();
    if (endpoint && !endpoints.includes(endpoint)) endpoints.push(endpoint);
    for (const e of s.entries) {
      if (e.key !== 'match') continue;
      for (const item of e.value.split(',').map((v) => v.trim()).filter(Boolean)) {
        const p = parseIpPrefix(item);
        if (p.ok) addresses.push({ prefix: p.value, section: `${path.basename(e.file)} [${s.name}]` });
        else hostnames.push(item);
      }
    }
  }
  return { addresses, hostnames, endpoints };
}
