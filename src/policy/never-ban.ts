import { parseIpPrefix, type IpPrefix } from '../net/ip-prefix.js';
import { PrefixList } from '../net/prefix-list.js';

const ALWAYS_SPARED = ['127.0.0.0/8', '::1/128', '0.0.0.0/32', '::/128'].map((t) => {
  const p = parseIpPrefix(t);
  if (!p.ok) throw new Error(p.reason);
  return p.value;
});

/**
 * The addresses the guard never scores and never bans: the admin's allow-list (the config's
 * and the runtime `allow` commands) and the never-ban list (loopback, the AMI host, the PBX's
 * own addresses learned from LocalAddress). The policy asks whether an address is covered;
 * the ban ledger refuses any ban that overlaps either list.
 */
export class NeverBan {
  private allowList: PrefixList;
  private readonly spared: PrefixList;

  constructor(allow: readonly IpPrefix[], neverBan: readonly IpPrefix[]) {
    this.allowList = new PrefixList(allow);
    this.spared = new PrefixList([...ALWAYS_SPARED, ...neverBan]);
  }

  /** A reloaded config's allow-list, with the runtime entries. */
  setAllowList(prefixes: readonly IpPrefix[]): void {
    this.allowList = new PrefixList(prefixes);
  }

  allow(prefix: IpPrefix): void {
    this.allowList.add(prefix);
  }

  disallow(prefix: IpPrefix): boolean {
    return this.allowList.remove(prefix);
  }

  /** The PBX's own address, seen as an event's LocalAddress. */
  learnOwn(ip: IpPrefix): void {
    this.spared.add(ip);
  }

  /** Is the address on either list (it is then never scored)? */
  covers(ip: IpPrefix): boolean {
    return this.allowList.match(ip) !== undefined || this.spared.match(ip) !== undefined;
  }

  /** Does the prefix share an address with either list (it is then never banned whole)? */
  overlaps(prefix: IpPrefix): boolean {
    return this.allowList.overlapping(prefix) !== undefined || this.spared.overlapping(prefix) !== undefined;
  }

  /** Why a ban of `prefix` would hit a spared address, or undefined when it would not. */
  why(prefix: IpPrefix): string | undefined {
    const a = this.allowList.overlapping(prefix);
    if (a) return `allow-listed (${a.text})`;
    const s = this.spared.overlapping(prefix);
    return s ? `never banned (${s.text}: loopback, the PBX itself or the AMI host)` : undefined;
  }
}
