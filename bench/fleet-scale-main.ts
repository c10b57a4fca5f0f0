// Run in a fresh process by bench/run.ts: benchmark 9 (2,000 Redis connections from this one).
import { runFleetScaleBench } from './fleet-scale.js';

process.stdout.write(`${JSON.stringify(await runFleetScaleBench())}\n`);
