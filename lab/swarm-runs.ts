#!/usr/bin/env node
// `npm run swarm-runs [-- RUNS]` (default 10): the two swarm scenarios of the demo run again and
// again on one lab, the phone registering throughout as in the demo, each run against a guard
// started from nothing. Prints, per run, where the /24 swarm's guesses fell (up to the deciding
// failure, AMI's delivery, the kernel commit, after it) and the IPv6 siege's count, then the
// median and worst: the figures docs/benchmarks.md keeps.
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Lab } from './lab.js';
import { phoneLoop, rangeSwarmScenario, siegeScenario, type SwarmSplit } from './scenarios.js';

const runs = Number(process.argv[2] ?? 10);
const started = performance.now();
const quiet = process.argv.includes('--quiet');
const say = (line: string) => {
  if (!quiet) process.stdout.write(`[${((performance.now() - started) / 1000).toFixed(1).padStart(5)}s] ${line}\n`);
};
const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

const lab = await Lab.up({ prefix: 'agsw', cacheDir: process.env['AG_LAB_CACHE'], say });
const splits: SwarmSplit[] = [];
const sieges: number[] = [];
let current = 'none';
const phone = phoneLoop(lab, say, () => current);
try {
  for (let i = 1; i <= runs; i++) {
    await lab.freshGuard();
    current = `run ${i}, /24 swarm`;
    await rangeSwarmScenario(lab, say, (s) => splits.push(s));
    await lab.freshGuard();
    current = `run ${i}, IPv6 siege`;
    await siegeScenario(lab, say, (n) => sieges.push(n));
  }
} finally {
  const tally = await phone.stop();
  // Every guard's log of the runs (JSON lines, each ban with its latencies), for a closer look.
  const log = path.join(tmpdir(), 'asterisk-guard-swarm-runs.log');
  writeFileSync(log, lab.guardLog().map((l) => JSON.stringify(l)).join('\n') + '\n');
  await lab.down();
  const out = process.stdout;
  out.write('\nrun | /24 swarm: guesses | to the deciding failure | AMI delivery | to the commit | after the commit | ms: AMI, commit | IPv6 siege: guesses\n');
  splits.forEach((s, i) => out.write(`${i + 1} | ${s.guesses} | ${s.toDecidingEvent} | ${s.amiDelivery} | ${s.toCommit} | ${s.afterCommit} | ${s.amiMs}, ${s.commitMs} | ${sieges[i] ?? '-'}\n`));
  const g = splits.map((s) => s.guesses);
  out.write(`the guards' log: ${log}\n`);
  out.write(`/24 swarm: median ${median(g)}, worst ${Math.max(...g)} (goal: median ≤ 20, worst ≤ 40); IPv6 siege: median ${median(sieges)}, worst ${Math.max(...sieges)} (goal ≤ 80 in every run); phone: ${tally.ok} REGISTERs OK, ${tally.failed.length} failed\n`);
}
