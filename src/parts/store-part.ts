import { statfs } from 'node:fs/promises';
import path from 'node:path';
import { MAX_ENDPOINTS } from '../fraud/fraud-config.js';
import { DiskRoomWatch } from '../store/disk-room.js';
import { recordInStore } from '../effects/record-in-store.js';
import { Persister } from '../store/persister.js';
import { StoreKeeper } from '../store/store-keeper.js';
import { Store } from '../store/store.js';
import { changedKeys, tellTrouble, type DaemonContext, type Part } from './part.js';

/** Rows forgotten per table and step, and how soon the next step runs while rows go, or not. */
const PRUNE_BATCH = 1000;
const PRUNE_BUSY_MS = 200;
const PRUNE_IDLE_MS = 60_000;
/** The room left on the store's file system is looked at this often (one statfs). */
const ROOM_CHECK_MS = 10_000;

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
    onRecreated: (text) => tellTrouble(ctx, 'store-recreated', text),
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
  let pruned = 0;
  let cancelPrune = () => {};
  // Off the event path, a batch at a time: sooner while there is more to forget.
  const prune = () => {
    let gone = 0;
    try {
      const config = ctx.config();
      gone = store.pruneStep(clock.now(), { lookbackMs: config.policy.lookback, auditMs: config.store.audit_retention, baselines: MAX_ENDPOINTS }, PRUNE_BATCH);
      pruned += gone;
    } catch (e) {
      log.warn({ err: e }, `state database ${file}: could not forget old rows (${(e as Error).message}); tried again in a minute`);
    }
    cancelPrune = clock.after(gone > 0 ? PRUNE_BUSY_MS : PRUNE_IDLE_MS, prune);
  };
  const dir = path.dirname(file);
  const room = new DiskRoomWatch(dir);
  let roomUnreadable = false;
  let cancelRoom = () => {};
  let stopped = false;
  const lookAtRoom = async () => {
    try {
      const fs = await statfs(dir);
      roomUnreadable = false;
      const free = fs.bavail * fs.bsize;
      const change = room.look(free);
      if (change) tellTrouble(ctx, change.kind, change.text, { free_bytes: free });
    } catch (e) {
      if (!roomUnreadable) log.warn({ err: e }, `the room left on ${dir} could not be read: a disk filling up would be told only when a write fails`);
      roomUnreadable = true;
    }
    if (!stopped) cancelRoom = clock.after(ROOM_CHECK_MS, () => void lookAtRoom());
  };
  return {
    name: 'store',
    store,
    persister,
    restartOnly: (running, next) => changedKeys(running, next, ['store.path']),
    status: () => {
      const s = storeStatus(store, persister);
      return { store: { ...s.store, rows_pruned: pruned } };
    },
    // Subscribed at start, not when built: the toll-fraud part cuts a call before anything records it.
    async start() {
      recordInStore(bus, store, persister);
      cancelPrune = clock.after(PRUNE_BUSY_MS, prune);
      void lookAtRoom();
    },
    async stop() {
      cancelPrune();
      stopped = true;
      cancelRoom();
      persister.flush();
      const clean = persister.pending === 0;
      persister.stop();
      store.close(clean);
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
