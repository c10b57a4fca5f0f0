import type { IpPrefix } from '../../net/ip-prefix.js';
import type { AlertDecision, Decision } from '../decision.js';
import { mayBanSource, type Decided, type Failure, type RuleTools } from './rule.js';

/** Accounts tracked at once; the least recently failed go first. */
const MAX_TRACKED_ACCOUNTS = 10_000;

/** The most recent distinct sources (scoring keys) and when each last failed. */
interface Recent {
  prefixes: IpPrefix[];
  times: number[];
}

/** Notes a source's failure; true once `size` distinct sources are noted. */
function remember(recent: Recent, prefix: IpPrefix, time: number, size: number): boolean {
  const { prefixes, times } = recent;
  const at = prefixes.findIndex((p) => p.text === prefix.text);
  if (at !== -1) times[at] = Math.max(times[at]!, time);
  else if (prefixes.length < size) {
    prefixes.push(prefix);
    times.push(time);
  } else {
    // The source that failed longest ago makes room.
    let oldest = 0;
    for (let i = 1; i < times.length; i++) if (times[i]! < times[oldest]!) oldest = i;
    prefixes[oldest] = prefix;
    times[oldest] = time;
  }
  // A reload may have lowered the number needed.
  if (prefixes.length > size) {
    prefixes.length = size;
    times.length = size;
  }
  return prefixes.length >= size;
}

interface Siege {
  readonly account: string;
  readonly since: number;
  readonly sources: number;
  last: number;
  banned: number;
  /** Failures on the account during the siege: each a guess that reached Asterisk. */
  guesses: number;
}

/** What `status` shows of a siege in progress. */
export interface SiegeView {
  readonly account: string;
  readonly since: number;
  readonly sources: number;
  readonly banned: number;
  readonly guesses: number;
}

/**
 * Account sieges: sources spread over many /48s each get the threshold, so a swarm on one
 * password goes on address by address. When one account fails on wrong passwords from
 * `account_attack.sources` distinct untrusted sources within the window, it is under siege:
 * those sources are banned, and every further untrusted source failing on it at its first failure. Trusted sources
 * (they authenticated to it or another account lately) are exempt. The siege ends once the
 * account has been quiet for `account_attack.quiet`. One alert when it starts, one when it ends.
 */
export class AccountSieges {
  /**
   * Per account, its most recent distinct failing untrusted sources, as many as a siege needs:
   * O(sources needed) per failure and per account, where a map of every source (a swarm's
   * hundred thousand) cost a tenth of the pipeline's rate.
   */
  private readonly accounts = new Map<string, Recent>();
  private readonly sieges = new Map<string, Siege>();

  get active(): readonly SiegeView[] {
    return [...this.sieges.values()].map(({ account, since, sources, banned, guesses }) => ({ account, since, sources, banned, guesses }));
  }

  get size(): number {
    return this.sieges.size;
  }

  onFailure(f: Failure, t: RuleTools): Decided {
    const account = f.event.account;
    // Turned off (a reload may do it mid-siege): sieges in progress ban no more, and end when quiet.
    if (account === undefined || !t.config.accountAttack.enabled || (f.event.kind !== 'ChallengeResponseFailed' && f.event.kind !== 'InvalidPassword')) return undefined;
    const time = f.event.time;
    const siege = this.sieges.get(account);
    if (siege !== undefined) {
      siege.last = Math.max(siege.last, time);
      siege.guesses++;
      if (f.banned !== undefined || f.trusted || !mayBanSource(f)) return undefined;
      const banned = t.ban(f.key, time, 'siege', t.evidence(f, 'siege'));
      if (banned !== undefined) siege.banned++;
      return banned;
    }
    if (f.trusted) return undefined;
    const { sources: needed, windowMs, quietMs } = t.config.accountAttack;
    let recent = this.accounts.get(account);
    if (!recent) {
      this.accounts.set(account, (recent = { prefixes: [], times: [] }));
      if (this.accounts.size > MAX_TRACKED_ACCOUNTS) this.accounts.delete(this.accounts.keys().next().value as string);
    }
    if (!remember(recent, f.key, time, needed)) return undefined;
    // The `needed` most recent distinct sources all failed within the window: that many did.
    for (const at of recent.times) if (at < time - windowMs) return undefined;
    const count = recent.prefixes.length;
    this.accounts.delete(account);
    const started: Siege = { account, since: time, sources: count, last: time, banned: 0, guesses: 0 };
    this.sieges.set(account, started);
    // The sources that made it a siege are its first: banned now, not at their next guess (each
    // was one more guess in, ten of a swarm's).
    const decided: Decision[] = [];
    for (const prefix of recent.prefixes) {
      const key = prefix.text === f.key.text ? f.key : prefix;
      if (t.stopped(key, time) || t.holdsTrusted(key, time)) continue;
      const banned = t.ban(key, time, 'siege', key === f.key ? t.evidence(f, 'siege') : t.scoreboard.snapshot(key, 'siege'));
      if (banned === undefined) continue;
      started.banned++;
      decided.push(banned);
    }
    const text = `account ${account} under siege: failing from ${count} sources within ${Math.round(windowMs / 60_000)} min. Every further source failing on it is banned at its first failure until it has been quiet for ${Math.round(quietMs / 60_000)} min; change its password if one of them gets in`;
    decided.unshift(t.alert('critical', 'distributed-attack', time, text, undefined, undefined));
    return decided;
  }

  /** Ends the sieges quiet since `time - quiet`: one alert each, with what they cost. */
  endQuiet(time: number, t: RuleTools): AlertDecision[] {
    const ended: AlertDecision[] = [];
    for (const [account, s] of this.sieges) {
      if (s.last > time - t.config.accountAttack.quietMs) continue;
      this.sieges.delete(account);
      ended.push(
        t.alert('warning', 'siege-ended', time, `siege of account ${account} over: ${s.banned} sources banned (those that started it, then each at its first failure), ${s.guesses} guesses reached Asterisk during it (${s.sources} sources started it)`, undefined, undefined),
      );
    }
    return ended;
  }
}
