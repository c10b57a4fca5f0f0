import v8 from 'node:v8';
import vm from 'node:vm';
import type { DaemonContext, MetricFamily, Part } from './part.js';

/** Ban changes (or feed entries) that make bulk work (an import, a big swarm, a feed refresh), and how long after the last one the daemon counts as quiet. */
const BULK_CHANGES = 5000;
const QUIET_MS = 5000;
const CHECK_MS = 5000;

// V8 runs a full collection only when its old space reaches a limit: a daemon that goes quiet
// after bulk work keeps that work's garbage resident for good (measured, an import of 100,000
// bans: 885 to 1,139 bytes a ban in `ps` 40 s later, 390 after one collection). Node exposes
// no collection without --expose-gc on its command line, which the unit, the shebang and a
// `node cli.js` by hand would each have to carry; set here, the flag exposes `gc` to a new
// context only and changes nothing else.
v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc') as () => void;

/**
 * The daemon's own memory: once bans changed in bulk and then stopped for a while, one full
 * collection gives the bulk work's garbage back (a few ms, only when quiet); `status` and the
 * metrics say what the process holds.
 */
export function memoryPart(ctx: DaemonContext): Part {
  const { bus, clock, log } = ctx;
  let changes = 0;
  let lastChange = 0;
  let collections = 0;
  let timer: NodeJS.Timeout | undefined;
  const changed = (n = 1) => {
    changes += n;
    lastChange = clock.monotonic();
  };
  bus.on('committed', () => changed());
  bus.on('lifted', () => changed());
  bus.on('listed', changed);
  const collectWhenQuiet = () => {
    if (changes < BULK_CHANGES || clock.monotonic() - lastChange < QUIET_MS) return;
    const before = process.memoryUsage().heapUsed;
    const started = clock.monotonic();
    collectGarbage();
    collections++;
    log.debug({ changes, freed_mb: Math.round((before - process.memoryUsage().heapUsed) / 1048576), ms: Math.round(clock.monotonic() - started) }, 'garbage of bulk ban changes collected');
    changes = 0;
  };
  return {
    name: 'memory',
    async start() {
      timer = setInterval(collectWhenQuiet, CHECK_MS);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
    },
    status: () => {
      const m = process.memoryUsage();
      // What of the resident memory is V8's heap (in use, and reserved), and what lies outside it
      // (Buffers, typed arrays such as the scoreboard's index): where to look when it grows.
      return { memory: { resident_bytes: m.rss, heap_used_bytes: m.heapUsed, heap_total_bytes: m.heapTotal, external_bytes: m.external, collections_after_bulk: collections } };
    },
    metrics: (): MetricFamily[] => [{ name: 'asterisk_guard_resident_bytes', help: 'Resident memory of the daemon (what ps shows)', type: 'gauge', read: () => process.memoryUsage().rss }],
  };
}
