// Run in a fresh process by bench/run.ts, after the memory-hungry benchmarks: benchmarks 3-5
// inside a network namespace of their own (bench/in-namespace.ts).
import { runInNamespace } from './in-namespace.js';
import { runKernelBench } from './kernel.js';

await runInNamespace('agbench', import.meta.url, runKernelBench);
