// Run by bench/run.ts: benchmark 7 as an admin sees it (bench/daemon-memory.ts).
import { runDaemonMemoryBench } from './daemon-memory.js';

process.stdout.write(`${JSON.stringify(await runDaemonMemoryBench())}\n`);
