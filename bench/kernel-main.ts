// Run in a fresh process by bench/run.ts, after the memory-hungry benchmarks.
import { runKernelBench } from './kernel.js';

process.stdout.write(`${JSON.stringify(await runKernelBench())}\n`);
