import { z } from 'zod';
import { parseIpPrefix, type IpPrefix } from '../net/ip-prefix.js';

/** An address or CIDR prefix, parsed: what the config and the admin socket accept alike. */
export const prefixField = z.string().transform((v, ctx): IpPrefix => {
  const p = parseIpPrefix(v.trim());
  if (!p.ok) {
    ctx.addIssue({ code: 'custom', message: p.reason });
    return z.NEVER;
  }
  return p.value;
});
