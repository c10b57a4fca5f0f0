import type { IpPrefix } from '../net/ip-prefix.js';
import type { KernelBan } from './firewall-driver.js';

/** One record of a ban of the prefix in the store. */
export interface BanRecord {
  readonly until: number | null;
  readonly lifted: number | null;
}

/**
 * nft keeps timeouts in whole seconds (rounded up when written, down when read), and an element
 * is added a moment after its ban is decided: times this close are the same ban.
 */
const SAME_BAN_MS = 2000;

/**
 * The guard's own bans in the kernel that the store has no record of: decided, dropped in the
 * kernel, their records still queued in memory when the process died (a full disk makes them
 * wait). A ban is explained by a record that lasts as long (the store has it, or had it and it
 * has just ended), or by a lift after it was added (an admin's unban: the kernel's copy is the
 * stale one). Elements without the guard's mark are someone else's and never kept.
 */
export function unrecordedBans(kernel: readonly KernelBan[], recordsOf: (prefix: IpPrefix) => readonly BanRecord[], now: number): KernelBan[] {
  return kernel.filter((k) => k.ours && (k.until === null || k.until > now) && !recordsOf(k.prefix).some((r) => explains(r, k)));
}

function explains(r: BanRecord, k: KernelBan): boolean {
  // An element without a timeout does not say when it came: any lift is taken as its end.
  if (r.lifted !== null) return k.added === null || r.lifted >= k.added - SAME_BAN_MS;
  return r.until === null || (k.until !== null && r.until >= k.until - SAME_BAN_MS);
}
