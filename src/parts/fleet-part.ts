import { wireFleet } from '../fleet/wire-fleet.js';
import type { IpPrefix } from '../net/ip-prefix.js';
import type { Store } from '../store/store.js';
import { changedKeys, type DaemonContext, type MetricFamily, type Part, type PartCheck } from './part.js';

export interface FleetPart extends Part {
  readonly node: string;
  /** An admin's unban, for every node. */
  unbanEverywhere(prefix: IpPrefix): void;
}

type LinkView = { readonly connected: boolean; readonly pending: number; readonly stats: Readonly<Record<'published' | 'applied' | 'refused', number>> };

/**
 * Fleet mode (docs/fleet.md): one more ban source (other nodes' bans, shared scores) and one
 * more output (this node's bans, to Redis). Started after the kernel part: other nodes' bans go
 * into a ledger that already holds this node's own.
 */
export function fleetPart(ctx: DaemonContext, store: Store): FleetPart {
  const config = ctx.config();
  const node = config.fleet!.node;
  let wired: ReturnType<typeof wireFleet> | undefined;
  return {
    name: 'fleet',
    node,
    async start() {
      wired = wireFleet(config, { ...ctx.core, store, bus: ctx.bus, clock: ctx.clock, log: ctx.log });
    },
    async stop() {
      await wired?.stop();
    },
    unbanEverywhere: (prefix) => wired?.unbanEverywhere(prefix),
    restartOnly: (running, next) => changedKeys(running, next, ['fleet']),
    status: () => ({ fleet: wired ? { ...fleetStatus(node, wired.link), unbans_refused: wired.unbansRefused, not_applied: wired.notApplied, troubles: { ...wired.troubles }, restarts: wired.link.stats.restarts, shares: ctx.core.ledger.fleetShares() } : null }),
    checks: () => (wired ? fleetCheck(fleetStatus(node, wired.link)) : []),
    metrics: () => (wired ? fleetMetrics(wired.link) : []),
  };
}

export function fleetStatus(node: string, link: LinkView) {
  return { node, connected: link.connected, outbox: link.pending, published: link.stats.published, applied: link.stats.applied, refused: link.stats.refused };
}

function fleetCheck(f: ReturnType<typeof fleetStatus>): PartCheck[] {
  if (f.connected) return [{ check: 'fleet link', status: 'ok', detail: `node ${f.node} shares its bans; ${f.refused} entries refused from Redis since start` }];
  return [{ check: 'fleet link', status: 'fail', detail: `node ${f.node} is banning alone: Redis unreachable; ${f.outbox} decision(s) wait to be shared`, fix: 'see the fleet check above and the log for "fleet link to Redis lost"' }];
}

export function fleetMetrics(link: LinkView): MetricFamily[] {
  return [
    { name: 'asterisk_guard_fleet_link_up', help: 'Fleet mode: connected to Redis (1) or banning alone (0)', type: 'gauge', read: () => (link.connected ? 1 : 0) },
    { name: 'asterisk_guard_fleet_outbox', help: 'Fleet mode: decisions of this node waiting for Redis', type: 'gauge', read: () => link.pending },
    {
      name: 'asterisk_guard_fleet_entries_total',
      help: 'Fleet mode: entries published by this node, applied from others, refused as invalid (read from Redis: untrusted)',
      type: 'counter',
      labels: ['direction'],
      read: () => [
        [{ direction: 'published' }, link.stats.published],
        [{ direction: 'applied' }, link.stats.applied],
        [{ direction: 'refused' }, link.stats.refused],
      ],
    },
  ];
}
