import { prefixFromBytes, type IpPrefix } from './ip-prefix.js';

// A prefix as numbers, for tables that keep no object or string per entry (the scoreboard's
// index, the ban table): four 32-bit words of its address and a tag for family and length.

/** Tags of IPv4 prefixes are 1 + length (1-33); of IPv6 ones 130 + length. 0 marks a free entry. */
const IPV6_TAG_BASE = 130;

/** Loads the prefix's 128 bits into `words` (IPv4: the first word, the rest 0); returns its tag. */
export function loadPrefixKey(prefix: IpPrefix, words: Uint32Array): number {
  const b = prefix.bytes;
  words[0] = (b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!;
  if (prefix.family === 4) {
    words[1] = words[2] = words[3] = 0;
    return 1 + prefix.length;
  }
  words[1] = (b[4]! << 24) | (b[5]! << 16) | (b[6]! << 8) | b[7]!;
  words[2] = (b[8]! << 24) | (b[9]! << 16) | (b[10]! << 8) | b[11]!;
  words[3] = (b[12]! << 24) | (b[13]! << 16) | (b[14]! << 8) | b[15]!;
  return IPV6_TAG_BASE + prefix.length;
}

/** A 32-bit hash of a key (its words and tag). */
export function hashPrefixKey(words: Uint32Array, tag: number): number {
  let h = Math.imul(tag, 0x9e3779b1);
  for (let i = 0; i < 4; i++) h = Math.imul(h ^ words[i]!, 0x85ebca6b) ^ (h >>> 15);
  return (h ^ (h >>> 13)) >>> 0;
}

/** The prefix a key names (words from `words[at]` on). */
export function prefixOfKey(words: Uint32Array, at: number, tag: number): IpPrefix {
  const v6 = tag >= IPV6_TAG_BASE;
  const bytes = new Uint8Array(v6 ? 16 : 4);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (words[at + (i >> 2)]! >>> (24 - 8 * (i & 3))) & 0xff;
  return prefixFromBytes(v6 ? 6 : 4, bytes, tag - (v6 ? IPV6_TAG_BASE : 1));
}

/** Tags above this are IPv6 prefixes longer than /64 (their last 64 bits are not zero). */
export const LONGEST_SHORT_TAG = IPV6_TAG_BASE + 64;

/** A key's family and prefix length, from its tag. */
export function tagShape(tag: number): { readonly family: 4 | 6; readonly length: number } {
  return tag >= IPV6_TAG_BASE ? { family: 6, length: tag - IPV6_TAG_BASE } : { family: 4, length: tag - 1 };
}

/** Do two keys' prefixes overlap (one holds the other)? The first given by a word reader. */
export function keysOverlap(word: (i: number) => number, tag: number, other: Uint32Array, otherTag: number): boolean {
  const a = tagShape(tag);
  const b = tagShape(otherTag);
  if (a.family !== b.family) return false;
  let bits = Math.min(a.length, b.length);
  for (let i = 0; bits > 0; i++, bits -= 32) {
    const mask = bits >= 32 ? 0xffffffff : ~(0xffffffff >>> bits);
    if (((word(i) ^ other[i]!) & mask) !== 0) return false;
  }
  return true;
}
