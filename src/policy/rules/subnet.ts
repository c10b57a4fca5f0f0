import { widen } from '../../net/ip-prefix.js';
import type { FailureRule } from './rule.js';

/** Subnets tracked at once (each holds fewer than subnet.count members); the oldest go first. */
const MAX_TRACKED_SUBNETS = 100_000;

interface Member {
  readonly at: number;
  /** Banned on a failure that proved its address (see Failure.proven). */
  readonly proven: boolean;
}

/**
 * Bans a whole /24 (IPv4) or /48 (IPv6) once enough of its sources were banned within the
 * lookback. A subnet holding a trusted source counts only members banned on proven failures:
 * five forged addresses must not take a trusted trunk's /24 with them. The ledger refuses a
 * subnet that holds an allow-listed or never-ban address.
 */
export function subnetBan(): FailureRule {
  /** Banned sources per subnet: subnet → source → member. */
  const subnets = new Map<string, Map<string, Member>>();
  return (f, t) => {
    const member = f.banned;
    const c = t.config.subnet;
    if (member === undefined || member.reason === 'subnet' || !c.enabled) return undefined;
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
    members.set(member.target.text, { at: time, proven: f.proven });
    // Walked only when there may be enough: a walk per ban was quadratic in a subnet with
    // many members (benchmark 7 with subnet.count out of reach: 65,536 /64s in one /48).
    if (members.size < c.count) return undefined;
    for (const [k, m] of members) if (m.at < time - c.lookbackMs) members.delete(k);
    if (members.size < c.count) return undefined;
    if (t.holdsTrusted(subnet, time)) {
      let proven = 0;
      for (const m of members.values()) if (m.proven) proven++;
      if (proven < c.count) return undefined;
    }
    subnets.delete(subnet.text);
    return t.ban(subnet, time, 'subnet', undefined);
  };
}
