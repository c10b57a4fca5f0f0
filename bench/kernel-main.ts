// Run in a fresh process by bench/run.ts, after the memory-hungry benchmarks. Makes a network
// namespace, runs the kernel benchmarks inside it (as the daemon runs inside its PBX's
// namespace: no `ip netns exec` per command), and always removes it.
import { execa } from 'execa';
import { fileURLToPath } from 'node:url';
import { LabNetwork } from '../lab/netns.js';
import { runKernelBench } from './kernel.js';

if (process.argv.includes('--inside')) {
  process.stdout.write(`${JSON.stringify(await runKernelBench())}\n`);
} else {
  const net = await LabNetwork.create('agbench', { name: 'pbx', addresses: ['192.0.2.1'] }, []);
  try {
    const inside = await execa('ip', ['netns', 'exec', net.ns('pbx'), process.execPath, ...process.execArgv, fileURLToPath(import.meta.url), '--inside'], { stderr: 'inherit' });
    process.stdout.write(`${inside.stdout}\n`);
  } finally {
    await net.destroy();
  }
}
