// Run in a fresh process by bench/run.ts: benchmark 8 inside a network namespace of its own
// (redis-server on its loopback, C's nft table in it; bench/in-namespace.ts).
import { runFleetBench } from './fleet.js';
import { runInNamespace } from './in-namespace.js';

await runInNamespace('agfleetb', import.meta.url, () => runFleetBench());
