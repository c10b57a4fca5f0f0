import { parseConfig } from '../../src/config/load.js';
import { Guard, type GuardDeps } from '../../src/control/guard.js';
import { buildCore, type Core } from '../../src/core.js';
import { decisionBus } from '../../src/effects/bus.js';
import { recordInStore } from '../../src/effects/record-in-store.js';
import { Enforcer } from '../../src/enforce/enforcer.js';
import { createLogger } from '../../src/log.js';
import { Persister } from '../../src/store/persister.js';
import { Store } from '../../src/store/store.js';
import { fleetStatus } from '../../src/parts/fleet-part.js';
import { syncAllowed } from '../../src/parts/kernel-part.js';
import { coreStatus } from '../../src/parts/policy-part.js';
import { storeStatus } from '../../src/parts/store-part.js';
import { FlakyFirewall } from './flaky-firewall.js';
import { ManualClock } from './manual-clock.js';

const log = createLogger('silent', 'stderr');

export interface HarnessOptions {
  /** The store's file (default: in memory). */
  readonly file?: string;
  readonly clock?: ManualClock;
  readonly fleet?: NonNullable<GuardDeps['fleet']> & { readonly link: Parameters<typeof fleetStatus>[1] };
  /** The toll-fraud deps, from the core built (config with a `fraud:` section). */
  readonly tollFraud?: (core: Core) => GuardDeps['tollFraud'];
}

/**
 * The daemon's parts behind the admin socket, wired as the service wires them: the core, the
 * enforcer on a firewall that never fails, the store with its persister, the bus, the Guard.
 */
export function guardHarness(yaml = '{}', o: HarnessOptions = {}) {
  const clock = o.clock ?? new ManualClock();
  const fw = new FlakyFirewall(0);
  const bus = decisionBus();
  const config = parseConfig(yaml, 'test');
  const enforcer = new Enforcer(fw, bus, log, { clock, retryBaseMs: 10, retryMaxMs: 50, conntrackAttempts: 1 });
  const core = buildCore(config, log, { useEventTime: false, sink: enforcer });
  const store = Store.open(o.file ?? ':memory:');
  const persister = new Persister(log, { clock, retryBaseMs: 100, retryMaxMs: 100, onFailing: () => {}, atomically: (w) => store.transaction(w) });
  recordInStore(bus, store, persister);
  const guard = new Guard({
    ...core,
    enforcer,
    store,
    clock,
    // The sections of status the parts behind these deps give (src/parts).
    status: () => ({ ...coreStatus(core, clock), ...storeStatus(store, persister), ...(o.fleet ? { fleet: fleetStatus(o.fleet.node, o.fleet.link) } : {}) }),
    syncAllowed: () => syncAllowed(enforcer, [...config.policy.allow, ...store.allowed()]),
    storeWrites: () => persister,
    fleet: o.fleet,
    tollFraud: o.tollFraud?.(core),
  });
  return { guard, fw, bus, clock, enforcer, store, persister, core };
}
