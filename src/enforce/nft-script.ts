import type { IpFamily, IpPrefix, PrefixText } from '../net/ip-prefix.js';

// Pure rendering of nft scripts: the driver decides, this file only spells it. Every value
// interpolated here is a parsed IpPrefix's canonical text or a name validated by the config.
//
// Bans live in plain hash sets, one per family and prefix length (banned_v4_32, banned_v6_64,
// banned_v4_24, ...), each matched by one rule on the masked source address. Interval sets were
// used first and measured: nft must read every element of an interval set to add one (overlap
// checks in userspace), so with 50k bans each further ban took 160-320 ms; a hash set takes the
// same add in 0.2 ms. Hash sets also let a /32 and its /24 coexist, so no ban ever has to be
// held back because a wider one covers it.

export interface NftNames {
  readonly table: string;
  /** Ahead of conntrack (-200) and of raw (-300), so a drop costs no conntrack slot and
   *  wins over any `ct state established accept` elsewhere. Covers input and forward alike. */
  readonly priority: number;
}

/** One banned-set: the addresses of one family and prefix length. */
export interface SetKey {
  readonly family: IpFamily;
  readonly length: number;
}

const TYPE: Readonly<Record<IpFamily, string>> = { 4: 'ipv4_addr', 6: 'ipv6_addr' };
const MATCH: Readonly<Record<IpFamily, string>> = { 4: 'ip saddr', 6: 'ip6 saddr' };
const FULL: Readonly<Record<IpFamily, number>> = { 4: 32, 6: 128 };

export const FAMILIES: readonly IpFamily[] = [4, 6];

/** The sets every table has from the start: single addresses, and IPv6 /64s. */
export const BASE_SETS: readonly SetKey[] = [
  { family: 4, length: 32 },
  { family: 6, length: 128 },
  { family: 6, length: 64 },
];

export function bannedSetName(key: SetKey): string {
  return `banned_v${key.family}_${key.length}`;
}

/** `banned_v4_24` → its key; undefined for any other name. */
export function parseBannedSetName(name: string): SetKey | undefined {
  const m = /^banned_v([46])_(\d{1,3})$/.exec(name);
  if (!m) return undefined;
  const family = Number(m[1]) as IpFamily;
  const length = Number(m[2]);
  return length >= 1 && length <= FULL[family] ? { family, length } : undefined;
}

export function setKeyOf(prefix: IpPrefix): SetKey {
  return { family: prefix.family, length: prefix.length };
}

/**
 * Feed entries (issue 26) live in sets of their own, `listed_v4_32`, `listed_v4_24`..., hash
 * sets without timeouts matched like the banned ones: the feeds part replaces their content
 * as a whole at each refresh, in one transaction.
 */
export function listedSetName(key: SetKey): string {
  return `listed_v${key.family}_${key.length}`;
}

/** `listed_v4_24` → its key; undefined for any other name. */
export function parseListedSetName(name: string): SetKey | undefined {
  return name.startsWith('listed_') ? parseBannedSetName(`banned_${name.slice('listed_'.length)}`) : undefined;
}

export function allowedSetName(family: IpFamily): string {
  return `allowed_v${family}`;
}

/** The mask in nft's address syntax: `255.255.255.0`, `ffff:ffff:ffff:ffff:0:0:0:0`. */
export function maskText(key: SetKey): string {
  const bits = (i: number, width: number) => {
    const on = Math.max(0, Math.min(width, key.length - i * width));
    return on === 0 ? 0 : ((2 ** width - 1) ^ (2 ** (width - on) - 1));
  };
  if (key.family === 4) return Array.from({ length: 4 }, (_, i) => bits(i, 8)).join('.');
  return Array.from({ length: 8 }, (_, i) => bits(i, 16).toString(16)).join(':');
}

/** Statements that add a banned set and its drop rule (after the allow rules). */
export function bannedSetStatements(names: NftNames, key: SetKey): string[] {
  return dropSetStatements(names, key, bannedSetName(key), 'flags timeout; ');
}

/** Statements that add a feed's set and its drop rule (after the allow rules). */
export function listedSetStatements(names: NftNames, key: SetKey): string[] {
  return dropSetStatements(names, key, listedSetName(key), '');
}

function dropSetStatements(names: NftNames, key: SetKey, set: string, flags: string): string[] {
  const t = `inet ${names.table}`;
  const match = key.length === FULL[key.family] ? MATCH[key.family] : `${MATCH[key.family]} & ${maskText(key)}`;
  return [`add set ${t} ${set} { type ${TYPE[key.family]}; ${flags}}`, `add rule ${t} prerouting ${match} @${set} counter drop`];
}

/**
 * Creates (or repairs) our table in one transaction, keeping the elements already in the
 * sets. `sets` are the banned sets to have (those the kernel holds already, and the base
 * ones); `legacy` are sets of an older layout, dropped with their rules (a reconcile from the
 * store follows every start).
 */
export function initScript(names: NftNames, sets: readonly SetKey[], legacy: readonly string[], listed: readonly SetKey[] = []): string {
  const t = `inet ${names.table}`;
  const lines = [`add table ${t}`];
  for (const f of FAMILIES) lines.push(`add set ${t} ${allowedSetName(f)} { type ${TYPE[f]}; flags interval; }`);
  lines.push(
    `add chain ${t} prerouting { type filter hook prerouting priority ${names.priority}; policy accept; }`,
    `flush chain ${t} prerouting`,
  );
  for (const name of legacy) lines.push(`delete set ${t} ${name}`);
  // Allowed addresses first: an allowed office inside a banned subnet stays reachable.
  for (const f of FAMILIES) lines.push(`add rule ${t} prerouting ${MATCH[f]} @${allowedSetName(f)} accept`);
  for (const key of sets) lines.push(...bannedSetStatements(names, key));
  for (const key of listed) lines.push(...listedSetStatements(names, key));
  return lines.join('\n') + '\n';
}

export function timeoutText(ms: number): string {
  return `${Math.max(1, Math.ceil(ms / 1000))}s`;
}

/** The element as its set holds it: the network address alone. */
export function elementText(prefix: IpPrefix | PrefixText): string {
  const text = typeof prefix === 'string' ? prefix : prefix.text;
  const slash = text.indexOf('/');
  return slash === -1 ? text : text.slice(0, slash);
}

/**
 * The comment on every element the guard adds to a banned set. At a start after a crash, an
 * element with it that the store has no record of is a decision whose record was lost (a full
 * disk queued it in memory): it is kept. One without it was added by someone else: removed.
 */
export const ELEMENT_MARK = 'asterisk-guard';

export type ElementChange =
  /** `replaces`: an element of the prefix may be in the set already (an `add` would keep its timeout). */
  | { readonly op: 'add'; readonly prefix: IpPrefix; readonly until: number | null; readonly replaces: boolean }
  /** Whether or not the element is there. */
  | { readonly op: 'delete'; readonly prefix: IpPrefix };

/**
 * Statements for element changes, one per set and phase; the caller applies them as one
 * transaction. Deletes and replacements may find the element there or not (it timed out; a
 * restart; someone's `nft delete element`): each is added without a timeout first (a no-op if
 * present), then deleted, so the transaction never fails on it and no mirror of the kernel's
 * elements is needed. Then the adds with their timeouts.
 */
export function elementStatements(names: NftNames, changes: readonly ElementChange[], now: number): string[] {
  const t = `inet ${names.table}`;
  const phases: Array<['add' | 'delete', (c: ElementChange) => string | undefined]> = [
    ['add', (c) => (c.op === 'delete' || c.replaces ? elementText(c.prefix) : undefined)],
    ['delete', (c) => (c.op === 'delete' || c.replaces ? elementText(c.prefix) : undefined)],
    ['add', (c) => (c.op === 'add' ? elementText(c.prefix) + (c.until !== null ? ` timeout ${timeoutText(c.until - now)}` : '') + ` comment "${ELEMENT_MARK}"` : undefined)],
  ];
  const lines: string[] = [];
  for (const [verb, item] of phases) {
    const bySet = new Map<string, string[]>();
    for (const c of changes) {
      const text = item(c);
      if (text === undefined) continue;
      const set = bannedSetName(setKeyOf(c.prefix));
      const items = bySet.get(set) ?? [];
      items.push(text);
      bySet.set(set, items);
    }
    for (const [set, items] of bySet) lines.push(`${verb} element ${t} ${set} { ${items.join(', ')} }`);
  }
  return lines;
}

/** Replaces a set's whole content in one transaction (flush, then add). */
export function replaceSetStatements(names: NftNames, set: string, elements: readonly string[]): string[] {
  const t = `inet ${names.table}`;
  return [`flush set ${t} ${set}`, ...(elements.length > 0 ? [`add element ${t} ${set} { ${elements.join(', ')} }`] : [])];
}
