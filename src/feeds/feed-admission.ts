import { parseIpPrefix, shapeOfText, type IpPrefix, type PrefixText } from '../net/ip-prefix.js';
import { ended } from './feed-fetch.js';

// What of a feed goes into the kernel: the ban ledger's checks, applied to someone else's
// list. An entry over the allow-list or the never-ban list (your trunk, 10.0.0.0/8, the PBX
// itself) or wider than the feed may list is refused and counted; past max_entries the rest
// is refused too. Nothing of a feed is ever trusted more than a ban an admin would type.

export interface AdmissionRules {
  readonly now: number;
  readonly widest: { readonly ipv4: number; readonly ipv6: number };
  readonly maxEntries: number;
  /** Why a ban of this prefix would hit a spared address (NeverBan.why), or undefined. */
  readonly spared: (prefix: IpPrefix) => string | undefined;
}

export interface Admission {
  readonly admitted: PrefixText[];
  /** Refused entries, each with why; those over max_entries are only counted. */
  readonly refused: Array<{ readonly prefix: PrefixText; readonly why: string }>;
  readonly overCap: number;
}

/** A feed's entries (text → end minute, FeedState's form) through the checks. */
export function admit(entries: Iterable<readonly [PrefixText, number]>, rules: AdmissionRules): Admission {
  const admitted: PrefixText[] = [];
  const refused: Array<{ prefix: PrefixText; why: string }> = [];
  let overCap = 0;
  for (const [prefix, end] of entries) {
    if (ended(end, rules.now)) continue;
    const shape = shapeOfText(prefix);
    const widest = shape.family === 4 ? rules.widest.ipv4 : rules.widest.ipv6;
    if (shape.length < widest) {
      refused.push({ prefix, why: `wider than /${widest} (the feed's widest)` });
      continue;
    }
    // Parsed again only here, one at a time: the object dies young, the text is what stays.
    const parsed = parseIpPrefix(prefix);
    const spared = parsed.ok ? rules.spared(parsed.value) : parsed.reason;
    if (spared !== undefined) {
      refused.push({ prefix, why: spared });
      continue;
    }
    if (admitted.length >= rules.maxEntries) {
      overCap++;
      continue;
    }
    admitted.push(prefix);
  }
  return { admitted, refused, overCap };
}
