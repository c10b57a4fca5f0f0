// Run in a fresh process by bench/run.ts: benchmark 12's kernel half inside a network namespace
// of its own, with a sender host beside it (bench/in-namespace.ts).
import { runFeedKernelBench, LEAVES, STAYS } from './feeds.js';
import { runInNamespace } from './in-namespace.js';

await runInNamespace('agfeedb', import.meta.url, runFeedKernelBench, [{ name: 'sender', addresses: [STAYS, LEAVES] }]);
