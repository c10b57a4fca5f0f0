import { widen } from '../../net/ip-prefix.js';
import type { FailureRule } from './rule.js';

/** Subnets tracked at once (each holds fewer than subnet.count members); the oldest go first. */
const MAX_TRACKED_SUBNETS = 100_000;

/**
 * Bans a whole /24 (IPv4) or /48 (IPv6) once enough of its sources were banned within the
 * lookback. The ledger refuses a subnet that holds an allow-listed or never-ban address.
 */
export function subnetBan(): FailureRule {
  /** Banned sources per subnet: subnet → source → when. */
  const subnets = new Map<string, Map<string, number>>();
  return (f, t) => {
    const member = f.banned;
    if (member === undefined || member.reason === 'subnet') return undefined;
    const c = t.config.subnet;
    const length = member.target.family === 4 ? c.ipv4Length : c.ipv6Length;
    if (member.target.length <= length) return undefined;
    const subnet = widen(member.target, length);
    const time = member.time;
    // Members of a subnet banned already are not counted again (in a replay they still fail).
    if (t.banned(subnet, time)) return undefined;
    let members = subnets.get(subnet.text);
    if (!members) {
      subnets.set(subnet.text, (members = new Map()));
      if (subnets.size > MAX_TRACKED_SUBNETS) subnets.delete(subnets.keys().next().value as string);
    }
    members.set(member.target.text, time);
    for (const [k, at] of members) if (at < time - c.lookbackMs) members.delete(k);
    if (members.size < c.count) return undefined;
    subnets.delete(subnet.text);
    return t.ban(subnet, time, 'subnet', undefined);
  };
}
