// The kernel benchmarks run inside a network namespace made for them, as the daemon runs inside
// its PBX's (no `ip netns exec` per command): the script starts itself again in it with
// `--inside`, prints what `inside` returned as one JSON line, and always removes the namespace.
import { execa } from 'execa';
import { fileURLToPath } from 'node:url';
import { LabNetwork } from '../lab/netns.js';

export async function runInNamespace(prefix: string, script: string, inside: () => Promise<unknown>): Promise<void> {
  if (process.argv.includes('--inside')) {
    process.stdout.write(`${JSON.stringify(await inside())}\n`);
    return;
  }
  const net = await LabNetwork.create(prefix, { name: 'pbx', addresses: ['192.0.2.1'] }, []);
  try {
    const run = await execa('ip', ['netns', 'exec', net.ns('pbx'), process.execPath, ...process.execArgv, fileURLToPath(script), '--inside'], { stderr: 'inherit' });
    process.stdout.write(`${run.stdout}\n`);
  } finally {
    await net.destroy();
  }
}
