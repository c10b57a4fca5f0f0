import { parseIpPrefix, type IpPrefix } from '../../src/net/ip-prefix.js';

/** A prefix from text the test knows is valid. */
export function prefix(text: string): IpPrefix {
  const r = parseIpPrefix(text);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
}
