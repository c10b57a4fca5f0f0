// Run in a fresh process with --expose-gc by bench/run.ts: memory needs a clean heap.
import { runMemoryBench } from './memory.js';

process.stdout.write(`${JSON.stringify(runMemoryBench())}\n`);
