import { contains, overlaps, type IpPrefix } from './ip-prefix.js';

/** A small set of prefixes (allow-lists, the PBX's own addresses). Lists here hold tens of entries. */
export class PrefixList {
  private readonly items: IpPrefix[] = [];
  private readonly texts = new Set<string>();

  constructor(prefixes: Iterable<IpPrefix> = []) {
    for (const p of prefixes) this.add(p);
  }

  add(prefix: IpPrefix): boolean {
    if (this.texts.has(prefix.text)) return false;
    this.texts.add(prefix.text);
    this.items.push(prefix);
    return true;
  }

  remove(prefix: IpPrefix): boolean {
    if (!this.texts.delete(prefix.text)) return false;
    this.items.splice(this.items.findIndex((p) => p.text === prefix.text), 1);
    return true;
  }

  /** The entry that contains `ip`, if any. */
  match(ip: IpPrefix): IpPrefix | undefined {
    for (const p of this.items) if (contains(p, ip)) return p;
    return undefined;
  }

  /** The first entry that shares addresses with `prefix` (either contains the other). */
  overlapping(prefix: IpPrefix): IpPrefix | undefined {
    for (const p of this.items) if (overlaps(p, prefix)) return p;
    return undefined;
  }

  toArray(): readonly IpPrefix[] {
    return this.items;
  }
}
