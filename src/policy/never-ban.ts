import { parseIpPrefix, type IpPrefix } from '../net/ip-prefix.js';
import { PrefixList } from '../net/prefix-list.js';

/**
 * Addresses that are never a real unicast sender, or are this host: a security event "from"
 * one is forged or a misreport, and a ban of one would drop what the PBX needs (fe80::/64 takes
 * IPv6 neighbour discovery with it; 224.0.0.0/4 multicast; 0.0.0.0/8 DHCP).
 */
const SPECIAL: ReadonlyArray<readonly [string, string]> = [
  ['0.0.0.0/8', '"this network" (RFC 1122)'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'IPv4 link-local'],
  ['224.0.0.0/4', 'IPv4 multicast'],
  ['240.0.0.0/4', 'reserved IPv4 and the broadcast address'],
  ['::/128', 'the unspecified IPv6 address'],
  ['::1/128', 'IPv6 loopback'],
  ['fe80::/10', 'IPv6 link-local (neighbour discovery)'],
  ['ff00::/8', 'IPv6 multicast'],
];

function parsed(text: string): IpPrefix {
  const p = parseIpPrefix(text);
  if (!p.ok) throw new Error(p.reason);
  return p.value;
}

const SPECIAL_PREFIXES = new PrefixList(SPECIAL.map(([text]) => parsed(text)));
const SPECIAL_WHY = new Map(SPECIAL.map(([text, why]) => [parsed(text).text, why]));

/** Is the address in one of the SPECIAL classes? By its first bytes: this runs for every event. */
function isSpecialAddress(ip: IpPrefix): boolean {
  const b = ip.bytes;
  if (ip.family === 4) return b[0] === 0 || b[0] === 127 || (b[0] === 169 && b[1] === 254) || b[0]! >= 224;
  if (b[0] === 0xff || (b[0] === 0xfe && (b[1]! & 0xc0) === 0x80)) return true;
  // :: and ::1
  for (let i = 0; i < 15; i++) if (b[i] !== 0) return false;
  return b[15]! <= 1;
}

/**
 * The addresses the guard never scores and never bans: the admin's allow-list (the config's
 * and the runtime `allow` commands) and the never-ban list (addresses that are never a real
 * sender, the AMI host, the PBX's own addresses learned from LocalAddress). The policy asks
 * whether an address is covered; the ban ledger refuses any ban that overlaps either list.
 */
/** Own addresses learned from LocalAddress, at most. */
export const MAX_OWN_ADDRESSES = 64;

export class NeverBan {
  private learned = 0;
  private allowList: PrefixList;
  private readonly spared: PrefixList;
  /** Trunks Asterisk identifies by address (pjsip.conf `identify`): prefix text → where. */
  private identified = new Map<string, string>();
  private identifiedList = new PrefixList();

  constructor(allow: readonly IpPrefix[], neverBan: readonly IpPrefix[]) {
    this.allowList = new PrefixList(allow);
    this.spared = new PrefixList(neverBan);
  }

  /** The addresses pjsip.conf's identify sections match (replaced on reload). */
  setIdentified(entries: ReadonlyArray<{ readonly prefix: IpPrefix; readonly section: string }>): void {
    this.identified = new Map(entries.map((e) => [e.prefix.text, e.section]));
    this.identifiedList = new PrefixList(entries.map((e) => e.prefix));
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

  /**
   * The PBX's own address, seen as an event's LocalAddress; false once MAX_OWN_ADDRESSES are
   * known (a PBX has a few: a peer sending 50,000 made every event scan them, 380 µs each).
   */
  learnOwn(ip: IpPrefix): boolean {
    if (this.spared.match(ip) !== undefined) return true;
    if (this.learned >= MAX_OWN_ADDRESSES) return false;
    this.learned++;
    this.spared.add(ip);
    return true;
  }

  /** Is the address on either list (it is then never scored)? */
  covers(ip: IpPrefix): boolean {
    return isSpecialAddress(ip) || this.allowList.match(ip) !== undefined || this.spared.match(ip) !== undefined || this.identifiedList.match(ip) !== undefined;
  }

  /** Does the prefix share an address with either list (it is then never banned whole)? */
  overlaps(prefix: IpPrefix): boolean {
    // No text built: keyOf asks this for IPv6 events.
    return (
      SPECIAL_PREFIXES.overlapping(prefix) !== undefined ||
      this.allowList.overlapping(prefix) !== undefined ||
      this.spared.overlapping(prefix) !== undefined ||
      this.identifiedList.overlapping(prefix) !== undefined
    );
  }

  /** Why a ban of `prefix` would hit a spared address, or undefined when it would not. */
  why(prefix: IpPrefix): string | undefined {
    const a = this.allowList.overlapping(prefix);
    if (a) return `allow-listed (${a.text})`;
    const special = SPECIAL_PREFIXES.overlapping(prefix);
    if (special) return `never banned (${special.text}: ${SPECIAL_WHY.get(special.text)!})`;
    const s = this.spared.overlapping(prefix);
    if (s) return `never banned (${s.text}: the PBX itself or the AMI host)`;
    const t = this.identifiedList.overlapping(prefix);
    return t ? `never banned (${t.text}: a trunk Asterisk identifies by address, ${this.identified.get(t.text)!})` : undefined;
  }
}
