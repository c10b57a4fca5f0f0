// Run in fresh processes with --expose-gc by bench/run.ts: resident memory needs a clean heap.
// `--reference`: the object-per-ban layout alone, for comparison.
import { runBanMemoryBench, runObjectLedgerReference } from './ban-memory.js';

if (process.argv.includes('--reference')) process.stdout.write(`${JSON.stringify({ bytesPerBan: await runObjectLedgerReference(1_000_000) })}\n`);
else process.stdout.write(`${JSON.stringify(await runBanMemoryBench())}\n`);
