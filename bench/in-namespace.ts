// The kernel benchmarks run inside a network namespace made for them, as the daemon runs inside
// its PBX's (no `ip netns exec` per command): the script starts itself again in it with
// `--inside`, prints what `inside` returned as one JSON line, and always removes the namespace.
// Peers (hosts that send to the PBX) get namespaces of their own; `inside` gets their names.
import { execa } from 'execa';
import { fileURLToPath } from 'node:url';
import { LabNetwork, namespaceOf, type HostSpec } from '../lab/netns.js';

export async function runInNamespace(prefix: string, script: string, inside: (peerNs: Readonly<Record<string, string>>) => Promise<unknown>, peers: readonly HostSpec[] = []): Promise<void> {
  if (process.argv.includes('--inside')) {
    const peerNs = Object.fromEntries(peers.map((p) => [p.name, namespaceOf(prefix, p.name)]));
    process.stdout.write(`${JSON.stringify(await inside(peerNs))}\n`);
    return;
  }
  const net = await LabNetwork.create(prefix, { name: 'pbx', addresses: ['192.0.2.1'] }, peers);
  try {
    const run = await execa('ip', ['netns', 'exec', net.ns('pbx'), process.execPath, ...process.execArgv, fileURLToPath(script), '--inside'], { stderr: 'inherit' });
    process.stdout.write(`${run.stdout}\n`);
  } finally {
    await net.destroy();
  }
}
