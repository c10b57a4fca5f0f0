import type { IpPrefix } from '../net/ip-prefix.js';

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
  readonly admitted: IpPrefix[];
  /** Refused entries, each with why; those over max_entries are only counted. */
  readonly refused: Array<{ readonly prefix: IpPrefix; readonly why: string }>;
  readonly overCap: number;
}

export function admit(entries: Iterable<{ readonly prefix: IpPrefix; readonly until: number | null }>, rules: AdmissionRules): Admission {
  const admitted: IpPrefix[] = [];
  const refused: Array<{ prefix: IpPrefix; why: string }> = [];
  let overCap = 0;
  for (const { prefix, until } of entries) {
    if (until !== null && until <= rules.now) continue;
    const widest = prefix.family === 4 ? rules.widest.ipv4 : rules.widest.ipv6;
    if (prefix.length < widest) {
      refused.push({ prefix, why: `wider than /${widest} (the feed's widest)` });
      continue;
    }
    const spared = rules.spared(prefix);
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
