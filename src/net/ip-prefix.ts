// Parsed, canonical IP addresses and prefixes. Only values of these types reach the firewall
// driver, so a string from the wire can never be spliced into an nft or conntrack command.

export type IpFamily = 4 | 6;

const PREFIX_BRAND: unique symbol = Symbol('IpPrefix');
declare const TEXT_BRAND: unique symbol;

/**
 * The canonical text of a parsed prefix (`IpPrefix.text`), typed as parsed. Where one object
 * per entry costs too much (a feed's 100k entries: an IpPrefix with its byte array is ~250 B,
 * its text ~30) the text travels and reaches the firewall driver in place of the object.
 */
export type PrefixText = string & { readonly [TEXT_BRAND]: true };

/** A network prefix in canonical form (host bits zero). A single address is a /32 or /128. */
export interface IpPrefix {
  readonly [PREFIX_BRAND]: true;
  readonly family: IpFamily;
  /** 4 or 16 bytes, host bits cleared. */
  readonly bytes: Uint8Array;
  readonly length: number;
  /** `203.0.113.66`, `203.0.113.0/24`, `2001:db8:66::/64`: the form nft and conntrack accept. */
  readonly text: PrefixText;
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; reason: string };

function fail<T>(reason: string): ParseResult<T> {
  return { ok: false, reason };
}

// Scanned by character, not split: every security event carries an address.
function parseIpv4Bytes(text: string): Uint8Array | undefined {
  const out = new Uint8Array(4);
  let part = 0;
  let n = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i === text.length ? 46 : text.charCodeAt(i);
    if (c === 46) {
      // Leading zeros are refused: inet_aton reads them as octal, so their meaning is ambiguous.
      if (digits === 0 || n > 255 || part > 3 || (digits > 1 && n < 10 ** (digits - 1))) return undefined;
      out[part++] = n;
      n = 0;
      digits = 0;
    } else {
      const d = c - 48;
      if (d < 0 || d > 9 || ++digits > 3) return undefined;
      n = n * 10 + d;
    }
  }
  return part === 4 ? out : undefined;
}

function parseHextet(p: string): number | undefined {
  if (p.length === 0 || p.length > 4) return undefined;
  const n = Number.parseInt(p, 16);
  if (Number.isNaN(n) || !/^[0-9a-fA-F]+$/.test(p)) return undefined;
  return n;
}

function parseIpv6Bytes(text: string): Uint8Array | undefined {
  const double = text.indexOf('::');
  if (double !== -1 && text.indexOf('::', double + 1) !== -1) return undefined;
  const head = double === -1 ? text : text.slice(0, double);
  const tail = double === -1 ? '' : text.slice(double + 2);
  const headParts = head === '' ? [] : head.split(':');
  const tailParts = tail === '' ? [] : tail.split(':');
  const words: number[] = [];
  const tailWords: number[] = [];
  const all = [...headParts, ...tailParts];
  const last = all[all.length - 1];
  let v4: Uint8Array | undefined;
  if (last !== undefined && last.includes('.')) {
    v4 = parseIpv4Bytes(last);
    if (!v4) return undefined;
    if (tailParts.length > 0) tailParts.pop();
    else headParts.pop();
  }
  for (const p of headParts) {
    const w = parseHextet(p);
    if (w === undefined) return undefined;
    words.push(w);
  }
  for (const p of tailParts) {
    const w = parseHextet(p);
    if (w === undefined) return undefined;
    tailWords.push(w);
  }
  const v4Words = v4 ? 2 : 0;
  const explicit = words.length + tailWords.length + v4Words;
  if (double === -1 ? explicit !== 8 : explicit > 7) return undefined;
  const out = new Uint8Array(16);
  let w = 0;
  for (const x of words) {
    out[w++] = x >> 8;
    out[w++] = x & 0xff;
  }
  w = 16 - (tailWords.length + v4Words) * 2;
  for (const x of tailWords) {
    out[w++] = x >> 8;
    out[w++] = x & 0xff;
  }
  if (v4) out.set(v4, 12);
  return out;
}

function ipv4Text(b: Uint8Array): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/** RFC 5952 text: lowercase, longest run (>1) of zero words compressed, first one on a tie. */
function ipv6Text(b: Uint8Array): string {
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((b[i]! << 8) | b[i + 1]!);
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = words.map((x) => x.toString(16));
  if (bestStart === -1) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

function maskBytes(bytes: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let i = 0; i < out.length; i++) {
    const bitsHere = Math.max(0, Math.min(8, length - i * 8));
    out[i]! &= bitsHere === 0 ? 0 : (0xff << (8 - bitsHere)) & 0xff;
  }
  return out;
}

function makePrefix(family: IpFamily, bytes: Uint8Array, length: number, canonicalText?: string): IpPrefix {
  const full = family === 4 ? 32 : 128;
  const masked = length === full ? bytes : maskBytes(bytes, length);
  const addr = canonicalText ?? (family === 4 ? ipv4Text(masked) : ipv6Text(masked));
  // Immutable by type (every field readonly, made only here). Not Object.freeze: one is made
  // per event, and freezing cost 4% of the pipeline's throughput (benchmark 1).
  return {
    [PREFIX_BRAND]: true as const,
    family,
    bytes: masked,
    length,
    text: (length === full ? addr : `${addr}/${length}`) as PrefixText,
  };
}

/** A prefix from its bytes (a table that keeps prefixes as numbers gives one back). */
export function prefixFromBytes(family: IpFamily, bytes: Uint8Array, length: number): IpPrefix {
  return makePrefix(family, bytes, length);
}

function parseAddressBytes(text: string): { family: IpFamily; bytes: Uint8Array } | undefined {
  if (text.includes(':')) {
    const bytes = parseIpv6Bytes(text);
    return bytes ? { family: 6, bytes } : undefined;
  }
  const bytes = parseIpv4Bytes(text);
  return bytes ? { family: 4, bytes } : undefined;
}

const V4_MAPPED_HEAD = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

/**
 * Parses one address (no port, no brackets). IPv4-mapped IPv6 (`::ffff:203.0.113.5`) becomes
 * the IPv4 address, since that is the packet's real source in the kernel's v4 path and the
 * only form a v4 ban can match. A `%scope` suffix is accepted and dropped: the firewall
 * matches addresses, not interfaces.
 */
export function parseIpAddress(input: string): ParseResult<IpPrefix> {
  if (input.length === 0) return fail('empty address');
  if (input.length > 64) return fail('address too long');
  let text = input;
  const scope = text.indexOf('%');
  if (scope !== -1) {
    if (!text.includes(':')) return fail(`scope id on a non-IPv6 address: ${JSON.stringify(input)}`);
    if (scope === text.length - 1) return fail(`empty scope id: ${JSON.stringify(input)}`);
    text = text.slice(0, scope);
  }
  const v6 = text.includes(':');
  const bytes = v6 ? parseIpv6Bytes(text) : parseIpv4Bytes(text);
  if (!bytes) return fail(`not an IP address: ${JSON.stringify(input)}`);
  // A dotted quad without leading zeros is its own canonical text.
  if (!v6) return { ok: true, value: makePrefix(4, bytes, 32, text) };
  if (V4_MAPPED_HEAD.every((x, i) => bytes[i] === x)) return { ok: true, value: makePrefix(4, bytes.slice(12), 32) };
  return { ok: true, value: makePrefix(6, bytes, 128) };
}

/** Parses `ADDRESS` or `ADDRESS/LEN`. Host bits are cleared (`203.0.113.7/24` → `203.0.113.0/24`). */
export function parseIpPrefix(input: string): ParseResult<IpPrefix> {
  const slash = input.indexOf('/');
  if (slash === -1) return parseIpAddress(input);
  const lenText = input.slice(slash + 1);
  if (!/^\d{1,3}$/.test(lenText)) return fail(`bad prefix length in ${JSON.stringify(input)}`);
  const parsed = parseAddressBytes(input.slice(0, slash));
  if (!parsed) return fail(`not an IP prefix: ${JSON.stringify(input)}`);
  const length = Number(lenText);
  const full = parsed.family === 4 ? 32 : 128;
  if (length > full) return fail(`prefix length ${length} exceeds ${full} in ${JSON.stringify(input)}`);
  // An IPv4-mapped range is its IPv4 self, as a mapped address is: `::ffff:0:0/96` is 0.0.0.0/0
  // (refused as too wide), never a v6 ban that passes the checks and matches nothing.
  if (parsed.family === 6 && length >= 96 && V4_MAPPED_HEAD.every((x, i) => parsed.bytes[i] === x)) return { ok: true, value: makePrefix(4, parsed.bytes.slice(12), length - 96) };
  return { ok: true, value: makePrefix(parsed.family, parsed.bytes, length) };
}

/** Family and length of a parsed prefix's text, without parsing it again. */
export function shapeOfText(text: PrefixText): { readonly family: IpFamily; readonly length: number } {
  const family: IpFamily = text.includes(':') ? 6 : 4;
  const slash = text.indexOf('/');
  return { family, length: slash === -1 ? (family === 4 ? 32 : 128) : Number(text.slice(slash + 1)) };
}

/** The enclosing prefix of the given length (length must not exceed the prefix's own). */
export function widen(prefix: IpPrefix, length: number): IpPrefix {
  if (length >= prefix.length) return prefix;
  return makePrefix(prefix.family, prefix.bytes, length);
}

/** Does `outer` contain all of `inner`? */
export function contains(outer: IpPrefix, inner: IpPrefix): boolean {
  if (outer.family !== inner.family || outer.length > inner.length) return false;
  const a = outer.bytes;
  const b = inner.bytes;
  let bits = outer.length;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((a[i]! & mask) !== (b[i]! & mask)) return false;
  }
  return true;
}

/** Do the prefixes share an address (one contains the other)? */
export function overlaps(a: IpPrefix, b: IpPrefix): boolean {
  return contains(a, b) || contains(b, a);
}

