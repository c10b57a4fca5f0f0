import { mayBanSource, type FailureRule, type SuccessRule } from './rule.js';

/** Accounts nobody legitimate uses (detect.decoys). */
export class DecoyAccounts {
  private names: Set<string>;

  constructor(names: readonly string[]) {
    this.names = new Set(names);
  }

  set(names: readonly string[]): void {
    this.names = new Set(names);
  }

  has(account: string | undefined): boolean {
    return account !== undefined && this.names.has(account);
  }

  /** Drops a name that proved to be a real account; true when it was a decoy. */
  retire(account: string | undefined): boolean {
    return account !== undefined && this.names.delete(account);
  }
}

/** One failure on a decoy account bans: only a scanner tries it. */
export function tripwire(decoys: DecoyAccounts): FailureRule {
  return (f, t) => (f.banned === undefined && decoys.has(f.event.account) && mayBanSource(f) ? t.ban(f.key, f.event.time, 'tripwire', t.evidence(f, 'tripwire')) : undefined);
}

/** A decoy that authenticates is a real account: it stops being a decoy, and the admin hears it. */
export function decoyAuthenticated(decoys: DecoyAccounts): SuccessRule {
  return (s, t) => {
    const account = s.event.account;
    if (!decoys.retire(account)) return undefined;
    return t.alert('critical', 'decoy-authenticated', s.event.time, `decoy account ${account} authenticated from ${s.event.remote.ip.text}: it is a real account, so it is no longer treated as a decoy; remove it from detect.decoys`, s.event.remote.ip, undefined);
  };
}
