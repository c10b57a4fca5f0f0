import { recordInStore } from '../effects/record-in-store.js';
import { Persister } from '../store/persister.js';
import { StoreKeeper } from '../store/store-keeper.js';
import { Store } from '../store/store.js';
import { changedKeys, type DaemonContext, type Part } from './part.js';

/** The state database: bans, history, audit, trust. Every change on the bus is recorded in it. */
export interface StorePart extends Part {
  readonly store: Store;
  readonly persister: Persister;
}

/**
 * Opened when built (the kernel part restores from it), closed last: every part before it in
 * the stop order may still record something.
 */
export function storePart(ctx: DaemonContext): StorePart {
  const { log, clock, bus, core } = ctx;
  const file = ctx.config().store.path;
  const store = Store.open(file);
  const keeper = new StoreKeeper(store, {
    now: () => clock.now(),
    snapshot: () => {
      const now = clock.now();
      return { bans: [...core.ledger.bans(now)].map((b) => ({ ...b, evidence: null })), trust: core.policy.trust.entries(now) };
    },
    onRecreated(text) {
      log.error(text);
      bus.emit('trouble', { kind: 'store-recreated', time: clock.now(), text });
    },
  });
  const persister = new Persister(log, {
    clock,
    retryBaseMs: 500,
    retryMaxMs: 60_000,
    onFailing: (e) => bus.emit('trouble', { kind: 'store-failing', time: clock.now(), text: `state database ${file} refuses writes: ${(e as Error).message}` }),
    atomically: (writes) => store.transaction(writes),
    beforeBatch: () => keeper.check(),
    recover: (e) => keeper.recover(e),
  });
  return {
    name: 'store',
    store,
    persister,
    restartOnly: (running, next) => changedKeys(running, next, ['store']),
    status: () => storeStatus(store, persister),
    // Subscribed at start, not when built: the toll-fraud part cuts a call before anything records it.
    async start() {
      recordInStore(bus, store, persister);
    },
    async stop() {
      persister.flush();
      persister.stop();
      store.close();
    },
  };
}

/** Said with every change while the store refuses writes: the kernel has it, its record waits. */
export function storeNote(store: Store, writes: { readonly failing: boolean; readonly pending: number }): { store_writes_pending?: number; store_note?: string } {
  if (!writes.failing) return {};
  return { store_writes_pending: writes.pending, store_note: `in force in the kernel; the state database ${store.file} refuses writes, so its record is queued (${writes.pending} waiting) and retried` };
}

export function storeStatus(store: Store, writes: { readonly failing: boolean; readonly pending: number }) {
  return { store: { path: store.file, ...storeNote(store, writes) } };
}
