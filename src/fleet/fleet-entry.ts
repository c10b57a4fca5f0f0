import { parseIpPrefix, type IpFamily, type IpPrefix } from '../net/ip-prefix.js';

/** A ban one node decided, as the fleet's stream carries it. */
export interface FleetBan {
  readonly op: 'ban';
  readonly node: string;
  readonly prefix: IpPrefix;
  /** Wall-clock ms, or null for permanent. */
  readonly until: number | null;
  readonly reason: string;
}

/** An admin's unban on one node, for every node. */
export interface FleetUnban {
  readonly op: 'unban';
  readonly node: string;
  readonly prefix: IpPrefix;
}

export type FleetEntry = FleetBan | FleetUnban;

/** The widest prefix per family a node accepts from the fleet (default /16 and /32). */
export type FleetWidest = Readonly<Record<IpFamily, number>>;

/** Every value is short: a 10 MB value is refused before anything looks into it. */
export const MAX_VALUE = 128;
export const FIELDS: ReadonlySet<string> = new Set(['op', 'node', 'prefix', 'until', 'reason']);
const NODE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const REASON = /^[\x20-\x7e]{0,64}$/;

export function isNodeName(name: string): boolean {
  return NODE.test(name);
}

/** The stream entry's fields. */
export function encodeEntry(e: FleetEntry): Record<string, string> {
  const base = { op: e.op, node: e.node, prefix: e.prefix.text };
  return e.op === 'ban' ? { ...base, until: e.until === null ? 'permanent' : String(Math.round(e.until)), reason: e.reason } : base;
}

/**
 * What Redis handed us, checked as untrusted input: known fields only, short values, a node
 * name, a prefix that parses and is no wider than `widest`, a time. Nothing else reaches the
 * ban ledger (and through it the firewall driver, which takes parsed prefixes only).
 */
export function parseEntry(fields: Readonly<Record<string, string>>, widest: FleetWidest): { ok: true; entry: FleetEntry } | { ok: false; reason: string } {
  for (const [k, v] of Object.entries(fields)) {
    if (!FIELDS.has(k)) return { ok: false, reason: `unknown field ${JSON.stringify(k.slice(0, 32))}` };
    if (typeof v !== 'string' || v.length > MAX_VALUE) return { ok: false, reason: `field ${k} longer than ${MAX_VALUE} characters` };
  }
  const { op, node, prefix: text, until, reason } = fields;
  if (op !== 'ban' && op !== 'unban') return { ok: false, reason: `op ${JSON.stringify(op ?? null)} is neither ban nor unban` };
  if (node === undefined || !NODE.test(node)) return { ok: false, reason: `node ${JSON.stringify(node ?? null)} is not a node name` };
  const parsed = parseIpPrefix(text ?? '');
  if (!parsed.ok) return { ok: false, reason: `prefix ${JSON.stringify(text ?? null)}: ${parsed.reason}` };
  const prefix = parsed.value;
  if (prefix.length < widest[prefix.family]) return { ok: false, reason: `prefix ${prefix.text} is wider than /${widest[prefix.family]} (fleet.widest)` };
  if (op === 'unban') return { ok: true, entry: { op, node, prefix } };
  if (until === undefined || !(until === 'permanent' || /^\d{1,15}$/.test(until))) return { ok: false, reason: `until ${JSON.stringify(until ?? null)} is neither a time nor permanent` };
  if (reason === undefined || !REASON.test(reason)) return { ok: false, reason: 'reason is not up to 64 printable characters' };
  return { ok: true, entry: { op, node, prefix, until: until === 'permanent' ? null : Number(until), reason } };
}
