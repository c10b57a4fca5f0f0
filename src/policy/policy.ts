import { parseIpPrefix, widen, type IpPrefix } from '../net/ip-prefix.js';
import { PrefixList } from '../net/prefix-list.js';
import { isFailureKind, type Endpoint, type FailureKind, type SecurityEvent } from '../events/security-event.js';
import { scoringKey, type Evidence, type Scoreboard } from '../detect/scoreboard.js';
import type { AlertDecision, BanDecision, BanReason, Decision } from './decision.js';

export interface PolicyConfig {
  /** Ban length per escalation step (null: permanent); the last step repeats. */
  readonly ladder: readonly (number | null)[];
  /** Earlier bans of the same prefix within this window raise the step. */
  readonly lookbackMs: number;
  /** Admin's allow-list: never scored, never banned. */
  readonly allow: readonly IpPrefix[];
  /** Addresses that must never be banned whatever the config says: loopback, the AMI host. */
  readonly neverBan: readonly IpPrefix[];
  readonly ipv6PrefixLength: number;
  readonly trust: { readonly durationMs: number; readonly factor: number };
  /** Failures before a SuccessfulAuth that make it a guessed password, not a typo. */
  readonly guessedPasswordFailures: number;
  /** Accounts nobody legitimate uses: one failure against them bans. */
  readonly decoys: readonly string[];
  /** This many banned sources in one /24 (v4) or /48 (v6) within the lookback ban the prefix. */
  readonly subnet: { readonly count: number; readonly ipv4Length: number; readonly ipv6Length: number };
  /** This many distinct sources failing on one account within the window raise an alert. */
  readonly accountAttack: { readonly sources: number; readonly windowMs: number };
}

export type Outcome = 'ban' | 'alert' | 'trust' | 'scored' | 'allowed' | 'already-banned' | 'not-a-failure';

const ALWAYS_SPARED = ['127.0.0.0/8', '::1/128', '0.0.0.0/32', '::/128'].map((t) => {
  const p = parseIpPrefix(t);
  if (!p.ok) throw new Error(p.reason);
  return p.value;
});

const NONE: readonly Decision[] = Object.freeze([]);
const NONE_TIMES: readonly number[] = Object.freeze([]);
/** Accounts tracked for distributed attacks at once; the least recently failed go first. */
const MAX_TRACKED_ACCOUNTS = 10_000;

/**
 * Turns security events into decisions: allow-lists first, then trust, tripwires and the
 * scoreboard, then the ban itself with its escalation step and, when a subnet fills up, the
 * subnet's ban. Pure and synchronous: its only clock is the events' time.
 */
export class Policy {
  private allowList: PrefixList;
  private readonly spared: PrefixList;
  private decoys: Set<string>;
  /** Active bans: prefix → until (Infinity for permanent). */
  private readonly banned = new Map<string, number>();
  private pruneAt = 1024;
  private lastLocal: Endpoint | undefined;
  /** Ban start times per prefix within the lookback: the escalation history. */
  private readonly history = new Map<string, number[]>();
  private readonly trusted = new Map<string, number>();
  /** Banned sources per subnet: subnet → source → time. */
  private readonly subnets = new Map<string, Map<string, number>>();
  /** Failing sources per account: account → source → last failure; and when we last alerted. */
  private readonly accounts = new Map<string, Map<string, number>>();
  private readonly accountAlerted = new Map<string, number>();
  readonly outcomes: Record<Outcome, number> = { ban: 0, alert: 0, trust: 0, scored: 0, allowed: 0, 'already-banned': 0, 'not-a-failure': 0 };

  constructor(
    private config: PolicyConfig,
    private readonly scoreboard: Scoreboard,
  ) {
    this.allowList = new PrefixList(config.allow);
    this.spared = new PrefixList([...ALWAYS_SPARED, ...config.neverBan]);
    this.decoys = new Set(config.decoys);
  }

  /** The PBX's own addresses, learned from LocalAddress, with loopback and the AMI host. */
  get ownAddresses(): readonly IpPrefix[] {
    return this.spared.toArray();
  }

  /** Restores what the store remembers: bans in force, their history, trusted sources. */
  restore(state: { bans: ReadonlyArray<{ prefix: IpPrefix; until: number | null }>; history: ReadonlyMap<string, readonly number[]>; trusted: ReadonlyArray<{ source: string; until: number }> }): void {
    for (const b of state.bans) this.banned.set(b.prefix.text, b.until ?? Infinity);
    for (const [k, times] of state.history) this.history.set(k, [...times]);
    for (const t of state.trusted) this.trusted.set(t.source, t.until);
  }

  /**
   * A reloaded config (SIGHUP): thresholds, ladder, allow-list, decoys. Bans, their history,
   * trust and learned addresses stay. `runtimeAllowed` are the admin's `allow` commands.
   */
  reconfigure(config: PolicyConfig, runtimeAllowed: readonly IpPrefix[]): void {
    this.config = config;
    this.allowList = new PrefixList([...config.allow, ...runtimeAllowed]);
    this.decoys = new Set(config.decoys);
  }

  allow(prefix: IpPrefix): void {
    this.allowList.add(prefix);
  }

  disallow(prefix: IpPrefix): boolean {
    return this.allowList.remove(prefix);
  }

  isAllowed(ip: IpPrefix): boolean {
    return this.allowList.match(ip) !== undefined || this.spared.match(ip) !== undefined;
  }

  /** Why an address is spared, if it is: for `why` and for refusing a manual ban. */
  sparedBy(ip: IpPrefix): string | undefined {
    const a = this.allowList.match(ip);
    if (a) return `allow-listed (${a.text})`;
    const s = this.spared.match(ip);
    return s ? `never banned (${s.text}: loopback, the PBX itself or the AMI host)` : undefined;
  }

  trustedUntil(key: IpPrefix): number | undefined {
    return this.trusted.get(key.text);
  }

  bannedUntil(prefix: IpPrefix): number | undefined {
    return this.banned.get(prefix.text);
  }

  /** The scoring key of an address: its /64 for IPv6, narrowed to itself beside allowed ones. */
  keyOf(ip: IpPrefix): IpPrefix {
    const key = scoringKey(ip, this.config.ipv6PrefixLength);
    return key !== ip && (this.allowList.overlaps(key) || this.spared.overlaps(key)) ? ip : key;
  }

  handle(event: SecurityEvent): readonly Decision[] {
    // The parser hands out the same Endpoint while LocalAddress repeats: one Set lookup less.
    const local = event.local;
    if (local && local !== this.lastLocal) {
      this.spared.add(local.ip);
      this.lastLocal = local;
    }
    const ip = event.remote.ip;
    if (event.kind === 'SuccessfulAuth') return this.onSuccess(event);
    if (!isFailureKind(event.kind)) return this.count('not-a-failure');
    if (this.isAllowed(ip)) return this.count('allowed');
    const key = this.keyOf(ip);
    const until = this.banned.get(key.text);
    if (until !== undefined) {
      if (until > event.time) return this.count('already-banned');
      this.banned.delete(key.text);
    }
    const failure = event as SecurityEvent & { kind: FailureKind };
    const distributed = this.trackAccount(failure, key);
    const trustedUntil = this.trusted.get(key.text);
    const trusted = trustedUntil !== undefined && trustedUntil > event.time;
    const offense = this.scoreboard.recordFailure(failure, key, trusted ? this.config.trust.factor : 1);
    const trigger = offense?.evidence.trigger;
    let out: Decision[] | undefined;
    if (event.account !== undefined && this.decoys.has(event.account) && trigger !== 'burst' && trigger !== 'slow') {
      out = this.ban(key, event.time, 'tripwire', this.scoreboard.snapshot(key, 'tripwire'));
    } else if (offense && (trigger === 'stale-password' || trigger === 'trusted-failing')) {
      out = [this.alert('warning', trigger, event.time, `${key.text}: account ${offense.evidence.accounts.join(',')} failing, stale password?`, key, offense.evidence)];
    } else if (offense) {
      out = this.ban(key, event.time, trigger === 'burst' ? 'brute-force' : 'slow-brute-force', offense.evidence);
    }
    // Most events are scored and decide nothing: no array for them.
    if (distributed) return out ? [distributed, ...out] : [distributed];
    return out ?? this.count('scored');
  }

  /** A ban asked for by the admin (or an import): remembered so the source is not banned twice. */
  noteBan(prefix: IpPrefix, time: number, durationMs: number | null): void {
    this.banned.set(prefix.text, durationMs === null ? Infinity : time + durationMs);
    this.remember(prefix, time);
    this.scoreboard.forget(prefix);
  }

  noteUnban(prefix: IpPrefix): void {
    this.banned.delete(prefix.text);
  }

  /** The escalation step and ban length a new ban of `prefix` would get now. */
  nextStep(prefix: IpPrefix, time: number): { step: number; durationMs: number | null } {
    const since = time - this.config.lookbackMs;
    let earlier = 0;
    for (const t of this.history.get(prefix.text) ?? NONE_TIMES) if (t >= since) earlier++;
    const ladder = this.config.ladder;
    const step = Math.min(earlier, ladder.length - 1);
    return { step, durationMs: ladder[step]! };
  }

  private onSuccess(event: SecurityEvent): readonly Decision[] {
    const ip = event.remote.ip;
    if (event.account !== undefined && this.decoys.delete(event.account)) {
      return [this.alert('critical', 'decoy-authenticated', event.time, `decoy account ${event.account} authenticated from ${ip.text}: it is a real account, so it is no longer treated as a decoy; remove it from detect.decoys`, ip, undefined)];
    }
    if (this.isAllowed(ip)) return this.count('allowed');
    const key = this.keyOf(ip);
    const trustedUntil = this.trusted.get(key.text);
    const trusted = trustedUntil !== undefined && trustedUntil > event.time;
    const failures = this.scoreboard.failures(key);
    if (!trusted && failures >= this.config.guessedPasswordFailures) {
      const evidence = this.scoreboard.snapshot(key, 'guessed-password');
      const account = event.account ?? '?';
      return [
        this.alert('critical', 'guessed-password', event.time, `${key.text} authenticated as ${account} after ${failures} failures: a guessed password. Banned; change the password of ${account}`, key, evidence),
        ...this.ban(key, event.time, 'guessed-password', evidence),
      ];
    }
    const until = event.time + this.config.trust.durationMs;
    this.trusted.set(key.text, until);
    this.outcomes.trust++;
    return [{ action: 'trust', target: key, time: event.time, until, account: event.account }];
  }

  private ban(prefix: IpPrefix, time: number, reason: BanReason, evidence: Evidence | undefined): Decision[] {
    const { step, durationMs } = this.nextStep(prefix, time);
    this.noteBan(prefix, time, durationMs);
    this.outcomes.ban++;
    const decision: BanDecision = { action: 'ban', target: prefix, time, durationMs, step, reason, evidence };
    if (this.banned.size > this.pruneAt) this.pruneExpired(time);
    const subnet = reason === 'subnet' ? undefined : this.subnetBan(prefix, time);
    return subnet ? [decision, subnet] : [decision];
  }

  /** Records an individual ban in its subnet; bans the subnet when it has enough of them. */
  private subnetBan(prefix: IpPrefix, time: number): BanDecision | undefined {
    const length = prefix.family === 4 ? this.config.subnet.ipv4Length : this.config.subnet.ipv6Length;
    if (prefix.length <= length) return undefined;
    const subnet = widen(prefix, length);
    if ((this.banned.get(subnet.text) ?? 0) > time) return undefined;
    // The PBX's own network is never banned whole (allow-listed addresses are: the kernel
    // accepts them before the drop).
    if (this.spared.overlaps(subnet)) return undefined;
    const members = this.subnets.get(subnet.text) ?? new Map<string, number>();
    members.set(prefix.text, time);
    this.subnets.set(subnet.text, members);
    const since = time - this.config.lookbackMs;
    for (const [k, t] of members) if (t < since) members.delete(k);
    if (members.size < this.config.subnet.count) return undefined;
    this.subnets.delete(subnet.text);
    const { step, durationMs } = this.nextStep(subnet, time);
    this.noteBan(subnet, time, durationMs);
    this.outcomes.ban++;
    return { action: 'ban', target: subnet, time, durationMs, step, reason: 'subnet', evidence: undefined };
  }

  private trackAccount(event: SecurityEvent, key: IpPrefix): AlertDecision | undefined {
    const account = event.account;
    if (account === undefined || event.kind !== 'ChallengeResponseFailed') return undefined;
    const { sources: needed, windowMs } = this.config.accountAttack;
    const since = event.time - windowMs;
    // Once alerted, an account under attack costs nothing more until its window has passed:
    // a distributed attack sends this path hundreds of thousands of events.
    const last = this.accountAlerted.get(account);
    if (last !== undefined && last > since) return undefined;
    let sources = this.accounts.get(account);
    if (!sources) {
      sources = new Map();
      this.accounts.set(account, sources);
      if (this.accounts.size > MAX_TRACKED_ACCOUNTS) this.accounts.delete(this.accounts.keys().next().value as string);
    }
    sources.set(key.text, event.time);
    if (sources.size < needed) return undefined;
    for (const [k, t] of sources) if (t < since) sources.delete(k);
    if (sources.size < needed) return undefined;
    const count = sources.size;
    this.accounts.delete(account);
    this.accountAlerted.set(account, event.time);
    return this.alert('warning', 'distributed-attack', event.time, `account ${account}: failing from ${count} sources within ${Math.round(windowMs / 60_000)} min, a distributed attack on its password`, undefined, undefined);
  }

  private remember(prefix: IpPrefix, time: number): void {
    const since = time - this.config.lookbackMs;
    const list = this.history.get(prefix.text);
    if (!list) {
      this.history.set(prefix.text, [time]);
      return;
    }
    const kept = list.filter((t) => t >= since);
    kept.push(time);
    this.history.set(prefix.text, kept);
  }

  private alert(severity: AlertDecision['severity'], reason: AlertDecision['reason'], time: number, text: string, target: IpPrefix | undefined, evidence: Evidence | undefined): AlertDecision {
    this.outcomes.alert++;
    return { action: 'alert', severity, reason, time, text, target, evidence };
  }

  /** Keeps the ban map to the live bans: amortised, it runs when the map has doubled. */
  private pruneExpired(now: number): void {
    for (const [k, until] of this.banned) if (until <= now) this.banned.delete(k);
    this.pruneAt = Math.max(1024, this.banned.size * 2);
  }

  private count(outcome: Outcome): readonly Decision[] {
    this.outcomes[outcome]++;
    return NONE;
  }
}
