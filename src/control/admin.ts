import type { Logger } from 'pino';
import type { AmiClient } from '../ami/client.js';
import type { Scoreboard } from '../detect/scoreboard.js';
import type { Enforcer } from '../enforce/enforcer.js';
import type { FirewallDriver } from '../enforce/firewall-driver.js';
import { GuardError } from '../errors.js';
import type { IpPrefix } from '../net/ip-prefix.js';
import type { Pipeline } from '../pipeline.js';
import type { BanDecision, Decision } from '../policy/decision.js';
import type { Policy } from '../policy/policy.js';
import type { Store } from '../store/store.js';
import type { Request } from './protocol.js';

export interface AdminDeps {
  readonly store: Store;
  readonly policy: Policy;
  readonly scoreboard: Scoreboard;
  readonly driver: FirewallDriver;
  readonly enforcer: Enforcer;
  readonly pipeline: Pipeline;
  readonly ami: AmiClient;
  /** The config's allow-list as it stands (a reload changes it). */
  readonly configAllow: () => readonly IpPrefix[];
  readonly now: () => number;
  readonly log: Logger;
  readonly lastDecision: () => Decision | undefined;
  readonly eventsPerSecond: () => number;
}

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

/** The admin socket's commands, in fail2ban-client's words where they fit. */
export function adminHandler(d: AdminDeps): (r: Request) => Promise<unknown> {
  const refuseSpared = (prefix: IpPrefix) => {
    const why = d.policy.sparedBy(prefix);
    if (why) throw new GuardError('AG_ERR_CONTROL_REQUEST', `${prefix.text} is ${why}: it is never banned; disallow it first if you mean it`);
  };
  const syncAllowed = () => d.driver.setAllowed([...d.configAllow(), ...d.store.allowed()]);
  const manualBan = (prefix: IpPrefix, durationMs: number | null, reason: 'manual' | 'import', time: number): BanDecision => {
    const { step } = d.policy.nextStep(prefix, time);
    d.policy.noteBan(prefix, time, durationMs);
    return { action: 'ban', target: prefix, time, durationMs, step, reason, evidence: undefined };
  };

  return async (r) => {
    const now = d.now();
    switch (r.cmd) {
      case 'status': {
        const last = d.lastDecision();
        return {
          ami: { connected: d.ami.connected, reconnects: d.ami.stats.reconnects },
          events_per_second: d.eventsPerSecond(),
          active_bans: d.store.activeBans(now).length,
          tracked_sources: d.scoreboard.size,
          firewall: { driver: d.driver.name, committed: d.enforcer.stats.committed, errors: d.enforcer.stats.firewallErrors },
          skipped_input: Object.fromEntries(d.pipeline.problems.counts),
          last_decision: last ? { action: last.action, target: last.target?.text ?? null, time: iso(last.time), ...('reason' in last ? { reason: last.reason } : {}) } : null,
        };
      }
      case 'list':
      case 'export':
        return d.store.activeBans(now).map((b) => ({ prefix: b.prefix.text, since: b.since, until: b.until, reason: b.reason, origin: b.origin, step: b.step }));
      case 'ban': {
        refuseSpared(r.prefix);
        const durationMs = r.for === undefined ? d.policy.nextStep(r.prefix, now).durationMs : r.for;
        const decision = manualBan(r.prefix, durationMs, 'manual', now);
        d.enforcer.submit({ ...decision, reason: 'manual' }, performance.now());
        await d.enforcer.drain();
        d.store.audit({ time: now, action: 'ban', target: r.prefix.text, detail: { origin: 'cli', reason: r.reason ?? 'manual', until: iso(durationMs === null ? null : now + durationMs) } });
        return { prefix: r.prefix.text, until: durationMs === null ? null : now + durationMs, step: decision.step };
      }
      case 'unban': {
        await d.driver.unban([r.prefix]);
        const lifted = d.store.liftBan(r.prefix, now);
        d.policy.noteUnban(r.prefix);
        d.store.audit({ time: now, action: 'unban', target: r.prefix.text, detail: { origin: 'cli', lifted } });
        if (lifted === 0) throw new GuardError('AG_ERR_CONTROL_REQUEST', `${r.prefix.text} is not banned`);
        return { prefix: r.prefix.text, lifted };
      }
      case 'why': {
        const key = d.policy.keyOf(r.address);
        const prefixes = key.text === r.address.text ? [key] : [r.address, key];
        return {
          address: r.address.text,
          scored_as: key.text,
          spared: d.policy.sparedBy(r.address) ?? null,
          trusted_until: iso(d.policy.trustedUntil(key) ?? null),
          banned_until: ((u) => (u === undefined ? null : u === Infinity ? 'permanent' : iso(u)))(d.policy.bannedUntil(key)),
          scores: d.scoreboard.scores(key, now) ?? null,
          offenses: d.store.offense(key.text) ?? null,
          bans: prefixes.flatMap((p) => d.store.bansOf(p)).map((b) => ({ prefix: b.prefix.text, since: iso(b.since), until: iso(b.until), reason: b.reason, origin: b.origin, step: b.step })),
          decisions: prefixes.flatMap((p) => d.store.auditOf(p.text)),
        };
      }
      case 'allow': {
        d.store.allow(r.prefix, now);
        d.policy.allow(r.prefix);
        await syncAllowed();
        d.store.audit({ time: now, action: 'allow', target: r.prefix.text, detail: { origin: 'cli' } });
        return { prefix: r.prefix.text };
      }
      case 'disallow': {
        if (!d.store.disallow(r.prefix)) throw new GuardError('AG_ERR_CONTROL_REQUEST', `${r.prefix.text} is not on the runtime allow-list (entries of the config file are changed there)`);
        d.policy.disallow(r.prefix);
        await syncAllowed();
        d.store.audit({ time: now, action: 'disallow', target: r.prefix.text, detail: { origin: 'cli' } });
        return { prefix: r.prefix.text };
      }
      case 'import': {
        const live = r.bans.filter((b) => b.until === null || b.until > now).filter((b) => d.policy.sparedBy(b.prefix) === undefined);
        const decisions = live.map((b) => ({ ban: b, decision: manualBan(b.prefix, b.until === null ? null : b.until - now, 'import', now) }));
        await d.driver.ban(decisions.map(({ ban }) => ({ prefix: ban.prefix, until: ban.until })), now);
        d.store.recordBans(decisions.map(({ ban, decision }) => ({ prefix: ban.prefix, since: ban.since ?? now, until: ban.until, reason: ban.reason, origin: 'import', step: decision.step, evidence: null })));
        return { imported: live.length, skipped: r.bans.length - live.length };
      }
    }
  };
}
