import type { Config } from '../config/schema.js';
import { buildDriver } from '../enforce/build-driver.js';
import { processRunner } from '../enforce/command-runner.js';
import { Enforcer } from '../enforce/enforcer.js';
import { ConntrackWatch, readConntrackLoad, type ConntrackLoad } from '../enforce/conntrack-load.js';
import { TableWatch } from '../enforce/table-watch.js';
import type { IpPrefix, PrefixText } from '../net/ip-prefix.js';
import { unrecordedBans } from '../enforce/unrecorded-bans.js';
import type { Persister } from '../store/persister.js';
import type { Store, StoredBan } from '../store/store.js';
import { changedKeys, tellTrouble, type DaemonContext, type MetricFamily, type Part, type PartCheck } from './part.js';

/** How long a stop waits for kernel updates in flight. */
const FLUSH_BUDGET_MS = 2000;

export interface KernelPart extends Part {
  /** Both allow-lists (`config`'s and the runtime one) into the kernel. */
  syncAllowed(config: Config): Promise<void>;
  /** The feeds' entries into the kernel, replacing the last list in one transaction. */
  setListed(prefixes: readonly PrefixText[]): Promise<void>;
}

/** The enforcer the core's ledger hands its bans to; made before the core, started by the kernel part. */
export function buildEnforcer(ctx: Omit<DaemonContext, 'core'>): Enforcer {
  const c = ctx.config();
  return new Enforcer(buildDriver(c, ctx.log), ctx.bus, ctx.log, { clock: ctx.clock, retryBaseMs: c.firewall.retry_base, retryMaxMs: c.firewall.retry_max, conntrackAttempts: 3 });
}

/**
 * The kernel: at start the ledger takes back the store's bans and the kernel is made to match
 * them in one transaction (the store is the truth, but for the guard's own bans whose records a
 * crash lost); then a watch restores our table when someone else's `nft flush ruleset` takes it.
 */
export function kernelPart(ctx: DaemonContext, enforcer: Enforcer, { store, persister }: { store: Store; persister: Persister }): KernelPart {
  const { log, clock, bus, core } = ctx;
  const config = ctx.config();
  const allowed = (c: Config) => [...c.policy.allow, ...store.allowed()];
  const watch =
    config.firewall.driver === 'nftables'
      ? new TableWatch(
          {
            runner: processRunner(),
            table: config.firewall.table,
            clock,
            checkIntervalMs: config.firewall.check_interval,
            inspect: () => enforcer.inspect(),
            onTampered: async (what) => {
              const started = clock.monotonic();
              const bans = [...core.ledger.bans(clock.now())].map((b) => ({ prefix: b.prefix, until: b.until }));
              await enforcer.rebuild(bans, allowed(ctx.config()));
              const ms = Math.round(clock.monotonic() - started);
              const text = `nft table inet ${config.firewall.table} changed by something else (${what}); restored ${bans.length} bans in ${ms} ms`;
              log.warn({ missing: what, bans: bans.length, ms }, text);
              bus.emit('trouble', { kind: 'table-restored', time: clock.now(), text });
            },
          },
          log,
        )
      : undefined;
  const conntrack = conntrackLook(ctx);
  let conntrackTimer: NodeJS.Timeout | undefined;
  return {
    name: 'kernel',
    syncAllowed: (c) => syncAllowed(enforcer, allowed(c)),
    async setListed(prefixes) {
      // A feed's 100,000 elements through `nft monitor` cost seconds: the watch sits it out.
      const put = async () => {
        enforcer.setListed(prefixes);
        await enforcer.drain({ flushes: false });
      };
      await (watch ? watch.quiet(put) : put());
    },
    async start() {
      const now = clock.now();
      const prepared = await enforcer.prepare();
      const active = prepared ? await withKernelEvidence(ctx, enforcer, store, persister, now) : store.activeBans(now);
      core.ledger.restore(active, store.banHistory(now - config.policy.lookback));
      if (prepared) {
        const started = clock.monotonic();
        enforcer.reconcile(active.map((b) => ({ prefix: b.prefix, until: b.until })));
        await syncAllowed(enforcer, allowed(config));
        log.info({ bans: active.length, ms: Math.round(clock.monotonic() - started) }, 'kernel bans reconciled with the store');
      }
      watch?.start();
      conntrack.look();
      conntrackTimer = setInterval(conntrack.look, config.firewall.check_interval);
      conntrackTimer.unref();
    },
    async stop() {
      clearInterval(conntrackTimer);
      watch?.stop();
      await enforcer.finish(FLUSH_BUDGET_MS);
      enforcer.stop();
    },
    restartOnly: (running, next) => changedKeys(running, next, ['firewall']),
    reload: (c) => syncAllowed(enforcer, allowed(c)),
    status: () => ({
      firewall: { driver: enforcer.driverName, committed: enforcer.stats.committed, errors: enforcer.stats.firewallErrors },
      // What the kernel holds, as last inspected, not only what the guard believes.
      kernel: watch ? tableStatus(watch) : null,
      conntrack: conntrack.last() ?? null,
    }),
    checks: () => (watch ? tableCheck(tableStatus(watch)) : []),
    metrics: () => kernelMetrics({ firewallErrors: () => enforcer.stats.firewallErrors, conntrackErrors: () => enforcer.stats.conntrackErrors, tableRepairs: () => watch?.repairs ?? 0, conntrack: conntrack.last }),
  };
}

/**
 * The connection tracking table's load, looked at every `firewall.check_interval`: a full table
 * drops the phones' new flows (and a flood's), which nothing else would tell the admins.
 */
function conntrackLook(ctx: DaemonContext): { look: () => void; last: () => ConntrackLoad | undefined } {
  const { log, clock } = ctx;
  const watch = new ConntrackWatch();
  let last: ConntrackLoad | undefined;
  let lastAt = clock.monotonic();
  let unreadable = false;
  return {
    look() {
      try {
        last = readConntrackLoad();
        unreadable = false;
      } catch (e) {
        if (!unreadable) log.warn({ err: e }, 'the connection tracking table could not be read: a full table would go untold');
        unreadable = true;
        return;
      }
      const now = clock.monotonic();
      const change = last && watch.look(last, now - lastAt);
      lastAt = now;
      if (change) tellTrouble(ctx, change.kind, change.text, { ...last });
    },
    last: () => last,
  };
}

/** The allow-lists into the kernel, and back once it has them. */
export async function syncAllowed(enforcer: Enforcer, allowed: readonly IpPrefix[]): Promise<void> {
  enforcer.setAllowed(allowed);
  await enforcer.drain({ flushes: false });
}

type TableStatus = { readonly table: string; readonly inspected: string | null; readonly repairs: number };

function tableStatus(watch: TableWatch): TableStatus {
  const last = watch.last;
  return { table: last === undefined ? 'not inspected yet' : (last.missing ?? 'whole'), inspected: last ? new Date(last.at).toISOString() : null, repairs: watch.repairs };
}

export function tableCheck(k: Pick<TableStatus, 'table' | 'repairs'>): PartCheck[] {
  if (k.table !== 'whole' && k.table !== 'not inspected yet') return [{ check: 'kernel table', status: 'fail', detail: `the daemon finds its table incomplete: ${k.table} missing`, fix: 'the daemon restores it by itself within a second; if this stays, see the log for table-restored errors' }];
  return [{ check: 'kernel table', status: 'ok', detail: `${k.table}; restored ${k.repairs} time(s) since start` }];
}

export function kernelMetrics(s: { firewallErrors: () => number; conntrackErrors: () => number; tableRepairs: () => number; conntrack: () => ConntrackLoad | undefined }): MetricFamily[] {
  return [
    {
      name: 'asterisk_guard_firewall_errors_total',
      help: 'Failed firewall commands',
      type: 'counter',
      labels: ['command'],
      read: () => [
        [{ command: 'nft' }, s.firewallErrors()],
        [{ command: 'conntrack' }, s.conntrackErrors()],
      ],
    },
    { name: 'asterisk_guard_table_repairs_total', help: 'Times our nft table was found changed by something else and rebuilt', type: 'counter', read: s.tableRepairs },
    // As last looked at (every firewall.check_interval); 0 where the kernel tracks no connections.
    { name: 'asterisk_guard_conntrack_entries', help: "Entries in the kernel's connection tracking table", type: 'gauge', read: () => s.conntrack()?.entries ?? 0 },
    { name: 'asterisk_guard_conntrack_max', help: 'Room in the connection tracking table (net.netfilter.nf_conntrack_max; 0: conntrack not loaded)', type: 'gauge', read: () => s.conntrack()?.max ?? 0 },
    { name: 'asterisk_guard_conntrack_drops_total', help: 'Packets of new connections the kernel dropped because the table was full', type: 'counter', read: () => s.conntrack()?.drops ?? 0 },
  ];
}

/**
 * The store's bans in force, and what the kernel holds that the store should have had: all of
 * its bans when the store is new (it went missing, or was moved aside), the guard's own bans
 * without a record after a run that did not stop cleanly. Those are kept and recorded.
 */
async function withKernelEvidence(ctx: DaemonContext, enforcer: Enforcer, store: Store, persister: Persister, now: number): Promise<StoredBan[]> {
  if (!store.created && store.stoppedCleanly) return store.activeBans(now);
  const kernel = await enforcer.kernelBans(now);
  const found = store.created ? kernel : unrecordedBans(kernel, (p) => store.banRows(p), now);
  if (found.length === 0) return store.activeBans(now);
  const kept = found.map((b): StoredBan => ({ prefix: b.prefix, since: b.added ?? now, until: b.until, reason: 'kept from the kernel', origin: 'import', step: 0, evidence: null }));
  persister.write(`${kept.length} bans kept from the kernel`, () => store.recordBans(kept));
  const file = ctx.config().store.path;
  const text = store.created
    ? `the state database ${file} is new, but the kernel's table holds ${kept.length} bans: they are kept (reason "kept from the kernel") and recorded in the new store. If the old store was lost, its history and audit are gone; restore a backup to get them back`
    : `the last run did not stop cleanly and the kernel holds ${kept.length} of the guard's bans the state database ${file} has no record of (their writes were still queued: a full disk, or a crash right after the ban): they are kept (reason "kept from the kernel") and recorded now`;
  tellTrouble(ctx, 'kernel-bans-kept', text, { bans: kept.length });
  // The store's first: the ledger keeps the last of a prefix, and a kept one outlasts any record.
  return [...store.activeBans(now), ...kept];
}
