#!/usr/bin/env node
// `npm run demo`: builds (once) and starts the lab, runs every scenario, tells the story, and
// tears everything down, also on Ctrl-C or failure. Exit 0 only when every scenario passed.
// `npm run demo -- --keep`: the lab stays up after the scenarios, its web page open on the
// host, until Ctrl-C.
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Lab, WEB_PORT } from './lab.js';
import { outliveTheReader } from './outlive-reader.js';
import { runScenarios } from './scenarios.js';

const keep = process.argv.slice(2).includes('--keep');
const unknown = process.argv.slice(2).filter((a) => a !== '--keep');
if (unknown.length > 0) {
  process.stderr.write(`usage: npm run demo [-- --keep]  (unknown: ${unknown.join(' ')})\n`);
  process.exit(2);
}
outliveTheReader();
const started = performance.now();
const say = (line: string) => {
  const t = ((performance.now() - started) / 1000).toFixed(1).padStart(5);
  process.stdout.write(`[${t}s] ${line}\n`);
};

if (process.getuid?.() !== 0) {
  process.stderr.write('the lab needs root: it creates network namespaces, nft tables and a chroot\n');
  process.exit(1);
}

let lab: Lab | undefined;
let stopping = false;
const teardown = async (code: number) => {
  if (stopping) return;
  stopping = true;
  // The guard's own story of the run (JSON lines, with each ban's latencies), for a closer look.
  if (lab) {
    const file = path.join(tmpdir(), 'asterisk-guard-demo.log');
    writeFileSync(file, lab.guardLog().map((l) => JSON.stringify(l)).join('\n') + '\n');
    say(`the guard's log: ${file}`);
  }
  say('tearing down the lab');
  await lab?.down().catch((e: unknown) => process.stderr.write(`teardown: ${String(e)}\n`));
  process.exit(code);
};
process.on('SIGINT', () => void teardown(130));
process.on('SIGTERM', () => void teardown(143));

try {
  say('starting the lab: Asterisk 22 and asterisk-guard in namespace pbx (192.0.2.1, 2001:db8::1)');
  lab = await Lab.up({ cacheDir: process.env['AG_LAB_CACHE'], say });
  say(`lab up: ${(await lab.asterisk.cli('core show version')).split(' built')[0]}; asterisk-guard connected to AMI`);
  const page = await lab.openWebPage();
  say(page ? `the guard's web page, to watch the attacks live (one-time login URL, valid 10 minutes): ${await lab.webLoginUrl()}` : `the web page stays inside the lab: 127.0.0.1:${WEB_PORT} is taken on this machine`);
  const results = await runScenarios(lab, say);
  const passed = results.filter((r) => r.ok).length;
  say(`${passed}/${results.length} scenarios passed`);
  for (const r of results.sort((a, b) => a.id - b.id)) say(`  ${r.ok ? '✔' : '✘'} ${r.id}. ${r.title}: ${r.detail}`);
  if (keep) {
    say(`--keep: the lab stays up; Ctrl-C tears it down. The guard's CLI: node dist/src/cli.js status --socket ${lab.controlSocket}`);
    if (page) say(`the page, a new login link (the first one is used or old; more with web-url): ${await lab.webLoginUrl()}`);
    await new Promise(() => {});
  }
  await teardown(passed === results.length ? 0 : 1);
} catch (e) {
  process.stderr.write(`lab failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  await teardown(1);
}
