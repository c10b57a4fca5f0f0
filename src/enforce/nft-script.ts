import type { IpFamily, IpPrefix } from '../net/ip-prefix.js';

// Pure rendering of nft scripts: the driver decides, this file only spells it. Every value
// interpolated here is a parsed IpPrefix's canonical text or a name validated by the config.

export interface NftNames {
  readonly table: string;
  /** Ahead of conntrack (-200) and of raw (-300), so a drop costs no conntrack slot and
   *  wins over any `ct state established accept` elsewhere. Covers input and forward alike. */
  readonly priority: number;
}

interface FamilyContext {
  readonly set: string;
  readonly allowSet: string;
  readonly type: string;
  readonly match: string;
}

const FAMILY: Readonly<Record<IpFamily, FamilyContext>> = {
  4: { set: 'banned_v4', allowSet: 'allowed_v4', type: 'ipv4_addr', match: 'ip saddr' },
  6: { set: 'banned_v6', allowSet: 'allowed_v6', type: 'ipv6_addr', match: 'ip6 saddr' },
};

export function setName(family: IpFamily): string {
  return FAMILY[family].set;
}

export const FAMILIES: readonly IpFamily[] = [4, 6];

/** Creates (or repairs) our table in one transaction, keeping the elements already in the sets. */
export function initScript(names: NftNames): string {
  const t = `inet ${names.table}`;
  const lines = [`add table ${t}`];
  for (const f of FAMILIES) {
    const c = FAMILY[f];
    lines.push(`add set ${t} ${c.set} { type ${c.type}; flags interval, timeout; }`);
    lines.push(`add set ${t} ${c.allowSet} { type ${c.type}; flags interval; }`);
  }
  lines.push(
    `add chain ${t} prerouting { type filter hook prerouting priority ${names.priority}; policy accept; }`,
    `flush chain ${t} prerouting`,
  );
  // Allowed addresses first: an allowed office inside a banned subnet stays reachable.
  for (const f of FAMILIES) lines.push(`add rule ${t} prerouting ${FAMILY[f].match} @${FAMILY[f].allowSet} accept`);
  for (const f of FAMILIES) lines.push(`add rule ${t} prerouting ${FAMILY[f].match} @${FAMILY[f].set} counter drop`);
  return lines.join('\n') + '\n';
}

export function timeoutText(ms: number): string {
  return `${Math.max(1, Math.ceil(ms / 1000))}s`;
}

export type ElementChange =
  | { readonly op: 'add'; readonly prefix: IpPrefix; readonly until: number | null }
  | { readonly op: 'delete'; readonly prefix: IpPrefix };

/** One statement per set and operation; the caller applies them as one transaction. */
export function elementStatements(names: NftNames, changes: readonly ElementChange[], now: number): string[] {
  const t = `inet ${names.table}`;
  const lines: string[] = [];
  // Deletes first: an add that replaces a covered element must not overlap it. One statement
  // per set keeps a 100k-element batch a quick parse for nft.
  for (const op of ['delete', 'add'] as const) {
    for (const f of FAMILIES) {
      const items: string[] = [];
      for (const c of changes) {
        if (c.op !== op || c.prefix.family !== f) continue;
        const timeout = c.op === 'add' && c.until !== null ? ` timeout ${timeoutText(c.until - now)}` : '';
        items.push(c.prefix.text + timeout);
      }
      if (items.length > 0) lines.push(`${op} element ${t} ${setName(f)} { ${items.join(', ')} }`);
    }
  }
  return lines;
}

/** Replaces a set's whole content in one transaction (flush, then add). */
export function replaceSetStatements(names: NftNames, which: 'banned' | 'allowed', family: IpFamily, elements: readonly string[]): string[] {
  const c = FAMILY[family];
  const set = which === 'banned' ? c.set : c.allowSet;
  const t = `inet ${names.table}`;
  return [`flush set ${t} ${set}`, ...(elements.length > 0 ? [`add element ${t} ${set} { ${elements.join(', ')} }`] : [])];
}
