#!/usr/bin/env node
// `npm run soak [-- --minutes N] [--seed S] [--faults K,K] [--waves K,K] [--witness PBX]`: the chaos soak
// (lab/soak.ts); --faults and --waves draw from those kinds only (a new one tried, a schedule narrowed);
// --witness spares that PBX's guard the guard-kill fault (a long run's memory trend). Exit 0 only when
// nothing was lost, every fault that needs an alert was told, and the guards' resources stayed flat.
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { outliveTheReader } from './outlive-reader.js';
import { FAULTS } from './soak-faults.js';
import { PBX_NAMES } from './soak-lab.js';
import { formatReport, runSoak } from './soak.js';
import { WAVE_KINDS, type WaveKind } from './soak-waves.js';

const USAGE = `usage: npm run soak -- [--minutes N (1 to 1440)] [--seed S (a whole number)] [--faults ${FAULTS.map((f) => f.kind).join(',')}] [--waves ${WAVE_KINDS.join(',')}] [--witness ${PBX_NAMES.join('|')}]`;

outliveTheReader();
const started = performance.now();
const say = (line: string) => process.stdout.write(`[${((performance.now() - started) / 1000).toFixed(1).padStart(6)}s] ${line}\n`);

let values;
try {
  ({ values } = parseArgs({ options: { minutes: { type: 'string', default: '20' }, seed: { type: 'string' }, faults: { type: 'string' }, waves: { type: 'string' }, witness: { type: 'string' } } }));
} catch (e) {
  process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
  process.exit(2);
}

/** The kinds a comma-separated option names, each one known; undefined (all of them) without the option. */
function kinds<K extends string>(option: string, text: string | undefined, known: readonly K[]): K[] | undefined {
  if (text === undefined) return undefined;
  const named = text.split(',').map((k) => k.trim());
  const unknown = named.filter((k) => !(known as readonly string[]).includes(k));
  if (unknown.length > 0 || named.length === 0) {
    process.stderr.write(`--${option}: ${unknown.length > 0 ? `no ${option.slice(0, -1)} kind ${unknown.join(', ')}` : 'name at least one kind'}\n${USAGE}\n`);
    process.exit(2);
  }
  return named as K[];
}
const faults = kinds('faults', values.faults, FAULTS.map((f) => f.kind));
const waves = kinds<WaveKind>('waves', values.waves, WAVE_KINDS);
const witness = PBX_NAMES.find((n) => n === values.witness);
if (values.witness !== undefined && witness === undefined) {
  process.stderr.write(`--witness: no PBX ${values.witness} (one of ${PBX_NAMES.join(', ')})\n${USAGE}\n`);
  process.exit(2);
}
const minutes = Number(values.minutes);
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
if (!Number.isFinite(minutes) || minutes <= 0 || minutes > 24 * 60 || !Number.isInteger(seed) || seed < 0) {
  process.stderr.write(`${USAGE}\n`);
  process.exit(2);
}
if (process.getuid?.() !== 0) {
  process.stderr.write('the soak needs root: it creates network namespaces, nft tables, a tmpfs and a chroot\n');
  process.exit(1);
}
const stop = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    say(`${signal}: ending after the fault in hand, then tearing the lab down`);
    stop.abort();
  });
}
try {
  const report = await runSoak({ minutes, seed, faults, waves, witness, say, cacheDir: process.env['AG_LAB_CACHE'], signal: stop.signal });
  // Also in a file: a long run's report outlives the terminal that started it.
  const text = `${formatReport(report).join('\n')}\n`;
  const file = path.join(tmpdir(), 'asterisk-guard-soak-report.txt');
  writeFileSync(file, text);
  process.stdout.write(`${text}(this report: ${file})\n`);
  process.exitCode = report.verdict.ok ? 0 : 1;
} catch (e) {
  process.stderr.write(`soak failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
}
