import { parseIpPrefix, type IpPrefix } from '../net/ip-prefix.js';
import { PrefixList } from '../net/prefix-list.js';
import { isFailureKind, type FailureKind, type SecurityEvent } from '../events/security-event.js';
import { scoringKey, type Scoreboard } from '../detect/scoreboard.js';
import type { Decision } from './decision.js';

export interface PolicyConfig {
  readonly bantimeMs: number;
  /** Admin's allow-list: never scored, never banned. */
  readonly allow: readonly IpPrefix[];
  /** Addresses that must never be banned whatever the config says: loopback, the AMI host. */
  readonly neverBan: readonly IpPrefix[];
  readonly ipv6PrefixLength: number;
}

export type Outcome = 'ban' | 'warn' | 'scored' | 'allowed' | 'already-banned' | 'not-a-failure';

const ALWAYS_SPARED = ['127.0.0.0/8', '::1/128', '0.0.0.0/32', '::/128'].map((t) => {
  const p = parseIpPrefix(t);
  if (!p.ok) throw new Error(p.reason);
  return p.value;
});

/**
 * Turns security events into ban decisions: allow-lists first, then the scoreboard, then the
 * ban itself (never wider than the allow-list permits). Pure and synchronous.
 */
export class Policy {
  private readonly allow: PrefixList;
  private readonly spared: PrefixList;
  private readonly banned = new Map<string, number>();
  private pruneAt = 1024;
  readonly outcomes: Record<Outcome, number> = {
    ban: 0,
    warn: 0,
    scored: 0,
    allowed: 0,
    'already-banned': 0,
    'not-a-failure': 0,
  };

  constructor(
    private readonly config: PolicyConfig,
    private readonly scoreboard: Scoreboard,
  ) {
    this.allow = new PrefixList(config.allow);
    this.spared = new PrefixList([...ALWAYS_SPARED, ...config.neverBan]);
  }

  /** The PBX's own addresses, learned from LocalAddress: never banned. */
  get ownAddresses(): readonly IpPrefix[] {
    return this.spared.toArray();
  }

  handle(event: SecurityEvent): Decision | undefined {
    const local = event.local?.ip;
    if (local) this.spared.add(local);
    if (!isFailureKind(event.kind)) return this.count('not-a-failure');
    const ip = event.remote.ip;
    if (this.allow.match(ip) || this.spared.match(ip)) return this.count('allowed');
    let key = scoringKey(ip, this.config.ipv6PrefixLength);
    // A /64 that holds an allowed address is scored and banned per address instead.
    if (key !== ip && (this.allow.overlaps(key) || this.spared.overlaps(key))) key = ip;
    const until = this.banned.get(key.text);
    if (until !== undefined) {
      if (until > event.time) return this.count('already-banned');
      this.banned.delete(key.text);
    }
    const offense = this.scoreboard.recordFailure(event as SecurityEvent & { kind: FailureKind }, key);
    if (!offense) return this.count('scored');
    if (offense.evidence.trigger === 'stale-password') {
      this.count('warn');
      return { action: 'warn', target: offense.source, time: event.time, reason: 'stale-password', evidence: offense.evidence };
    }
    this.banned.set(key.text, event.time + this.config.bantimeMs);
    if (this.banned.size > this.pruneAt) this.pruneExpired(event.time);
    this.count('ban');
    return {
      action: 'ban',
      target: offense.source,
      time: event.time,
      durationMs: this.config.bantimeMs,
      reason: offense.evidence.trigger === 'burst' ? 'brute-force' : 'slow-brute-force',
      evidence: offense.evidence,
    };
  }

  /** Keeps the ban map to the live bans: amortised, it runs when the map has doubled. */
  private pruneExpired(now: number): void {
    for (const [k, until] of this.banned) if (until <= now) this.banned.delete(k);
    this.pruneAt = Math.max(1024, this.banned.size * 2);
  }

  private count(outcome: Outcome): undefined {
    this.outcomes[outcome]++;
    return undefined;
  }
}
