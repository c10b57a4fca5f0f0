import type { FailureRule } from './rule.js';

/** Accounts tracked for distributed attacks at once; the least recently failed go first. */
const MAX_TRACKED_ACCOUNTS = 10_000;

/** Warns when one account fails on wrong passwords from many sources within a window. */
export function accountAttack(): FailureRule {
  /** Failing sources per account: account → source → last failure. */
  const accounts = new Map<string, Map<string, number>>();
  /** When each account under attack was last alerted, so it costs nothing more meanwhile. */
  const alerted = new Map<string, number>();
  return (f, t) => {
    const account = f.event.account;
    if (account === undefined || f.event.kind !== 'ChallengeResponseFailed') return undefined;
    const { sources: needed, windowMs } = t.config.accountAttack;
    const time = f.event.time;
    const since = time - windowMs;
    // Once alerted, an account under attack costs nothing more until its window has passed:
    // a distributed attack sends this path hundreds of thousands of events.
    const last = alerted.get(account);
    if (last !== undefined) {
      if (last > since) return undefined;
      alerted.delete(account);
    }
    let sources = accounts.get(account);
    if (!sources) {
      accounts.set(account, (sources = new Map()));
      if (accounts.size > MAX_TRACKED_ACCOUNTS) accounts.delete(accounts.keys().next().value as string);
    }
    sources.set(f.key.text, time);
    if (sources.size < needed) return undefined;
    for (const [k, at] of sources) if (at < since) sources.delete(k);
    if (sources.size < needed) return undefined;
    const count = sources.size;
    accounts.delete(account);
    alerted.set(account, time);
    if (alerted.size > MAX_TRACKED_ACCOUNTS) alerted.delete(alerted.keys().next().value as string);
    return t.alert('warning', 'distributed-attack', time, `account ${account}: failing from ${count} sources within ${Math.round(windowMs / 60_000)} min, a distributed attack on its password`, undefined, undefined);
  };
}
