import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { DEFAULT_LAB_CACHE, ensureAsteriskRoot, LabAsterisk } from '../../lab/asterisk.js';

export const CONF_DIR = new URL('../../asterisk-conf', import.meta.url).pathname;
const AMI_ATTACK = new URL('../../dist/lab/ami-attack.js', import.meta.url).pathname;

export async function labAsterisk(namespace: string): Promise<LabAsterisk> {
  const root = await ensureAsteriskRoot({ cacheDir: process.env['AG_LAB_CACHE'] ?? DEFAULT_LAB_CACHE, log: (l) => console.log(l) });
  const asterisk = new LabAsterisk({ root, namespace, confDir: CONF_DIR });
  await asterisk.prepare();
  await asterisk.start();
  return asterisk;
}

export function writeConfig(yaml: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'ag-test-'));
  const file = path.join(dir, 'config.yaml');
  writeFileSync(file, yaml);
  return file;
}

/** AMI logins with wrong secrets from an attacker namespace; how many Asterisk answered. */
export async function amiBruteForce(namespace: string, from: string, to: string, count: number, user: string): Promise<{ answered: number; unanswered: number }> {
  const r = await execa('ip', ['netns', 'exec', namespace, process.execPath, AMI_ATTACK, to, '5038', String(count), user, from]);
  return JSON.parse(String(r.stdout)) as { answered: number; unanswered: number };
}
