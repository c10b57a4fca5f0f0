#!/usr/bin/env node
// Makes test/fixtures/ami-asterisk22-toll-fraud.raw: what the guard's AMI user receives from
// the lab's Asterisk 22 while an unprotected PBX is defrauded (the guard is stopped first).
// 1002 and 1003's desk phone place their usual calls; 203.0.113.74 guesses 1003's password
// (6 wrong ones), then registers with the right one and calls premium-rate, Latvian and
// satellite numbers, each answered by the lab's carrier and held a second.
import { execa } from 'execa';
import path from 'node:path';
import { PROJECT_ROOT } from '../src/paths.js';
import { compiled } from './compiled.js';
import { ACCOUNT_1003, Lab } from './lab.js';
import { usualCalls } from './toll-fraud-lab.js';

const file = process.argv[2] ?? path.join(PROJECT_ROOT, 'test/fixtures/ami-asterisk22-toll-fraud.raw');
const say = (line: string) => process.stdout.write(`${line}\n`);
const lab = await Lab.up({ prefix: 'agcap', say });
try {
  await lab.killGuard();
  const capture = execa('ip', ['netns', 'exec', lab.net.ns('pbx'), process.execPath, compiled('lab/ami-capture.js'), 'asterisk-guard', lab.asterisk.amiSecret, 'security,call', file], { reject: false, buffer: false });
  await new Promise<void>((resolve) => capture.stdout!.once('data', () => resolve()));
  await usualCalls(lab, say);
  await lab.sipGuess('tollFraud', '1003', 6, 200);
  say(`fraudster registers: ${await lab.register('tollFraud', ACCOUNT_1003)}`);
  for (const number of ['09098790000', '0037167000000', '00881612345678']) say(`${number}: ${(await lab.call('tollFraud', ACCOUNT_1003, number, 1000)).event}`);
  await new Promise((r) => setTimeout(r, 500));
  capture.kill('SIGTERM');
  await capture;
  say(`written ${file}`);
} finally {
  await lab.down();
}
