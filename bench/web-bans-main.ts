// Run in a fresh process by bench/run.ts: a million bans' heap is its own.
import { runWebBansBench } from './web-bans.js';

process.stdout.write(`${JSON.stringify(runWebBansBench())}\n`);
