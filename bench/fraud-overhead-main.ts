// Benchmark 10, second part: benchmark 1 in a process of its own, with (`on`) or without the
// toll-fraud guard's `fraud:` section; without it libphonenumber-js is never loaded, as in a
// daemon without one. Prints {"eventsPerSecond": N, "runs": [...]}.
import { FRAUD } from './calls.js';
import { runPipelineBench } from './pipeline.js';

const r = runPipelineBench(1_000_000, 100_000, process.argv[2] === 'on' ? FRAUD : '');
process.stdout.write(`${JSON.stringify({ eventsPerSecond: r.eventsPerSecond, runs: r.runs })}\n`);
