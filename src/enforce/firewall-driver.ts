import type { IpPrefix, PrefixText } from '../net/ip-prefix.js';

export type FlowDirection = 'from' | 'to';

/** A prefix to drop until a time (ms since the epoch), or for good when `until` is null. */
export interface Ban {
  readonly prefix: IpPrefix;
  readonly until: number | null;
  /** An element of an earlier ban of the prefix may still be in the kernel (the ledger knows). */
  readonly replaces?: boolean;
}

/** A ban as the kernel holds it. */
export interface KernelBan extends Ban {
  /** Added by the guard (its elements carry a mark), not by someone's `nft add element`. */
  readonly ours: boolean;
  /** When it was added, from its timeout and what is left of it; null without a timeout. */
  readonly added: number | null;
}

/**
 * What enforcement needs from a firewall, after cs-firewall-bouncer's backend interface.
 * `ban` is one transaction for the whole list: either all of it is in the kernel or none.
 */
export interface FirewallDriver {
  readonly name: string;
  init(): Promise<void>;
  ban(bans: readonly Ban[], now: number): Promise<void>;
  unban(prefixes: readonly IpPrefix[]): Promise<void>;
  /** Makes the kernel hold exactly these bans, in one transaction: missing ones added with
   *  their remaining time, expired and foreign elements removed. */
  reconcile(bans: readonly Ban[], now: number): Promise<void>;
  /** Addresses accepted before any drop, even inside a banned subnet. */
  setAllowed(prefixes: readonly IpPrefix[]): Promise<void>;
  /** The feeds' entries (issue 26): dropped as bans are, without a timeout; replaces the last list in one transaction. */
  setListed(prefixes: readonly PrefixText[]): Promise<void>;
  /** The bans the kernel holds now (our table only). */
  list(now: number): Promise<KernelBan[]>;
  /** What is missing from our table (its chain, a set, a rule), or undefined when it is whole. Cheap: no elements read. */
  inspect(): Promise<string | undefined>;
  /** Builds the whole table anew, with these bans, allowed addresses and feed entries, in one transaction. */
  rebuild(bans: readonly Ban[], allowed: readonly IpPrefix[], now: number, listed?: readonly PrefixText[]): Promise<void>;
  /** Deletes the tracked flows the prefix started (`from`: the attack's own), or the flows
   *  the PBX started towards it (`to`: a qualify, a call's media), so established flows end.
   *  `signal` aborts it (it then rejects): a commit waiting for the kernel goes first. */
  flushConnections(prefix: IpPrefix, direction: FlowDirection, signal?: AbortSignal): Promise<void>;
  /** Releases processes and handles; the kernel keeps every ban. */
  close(): void;
  /** Removes everything the driver created (uninstall); false when there was nothing. */
  destroy(): Promise<boolean>;
}
