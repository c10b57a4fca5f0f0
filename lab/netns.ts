import { execa } from 'execa';
import { parseIpAddress } from '../src/net/ip-prefix.js';

// Hosts on one machine, for the lab and the tests: a star of network namespaces around the PBX,
// joined by veth pairs. Only documentation addresses are accepted (192.0.2.0/24,
// 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32): no packet can leave for a real network.

export interface HostSpec {
  /** Short name, used in namespace and interface names. */
  readonly name: string;
  readonly addresses: readonly string[];
}

// Documentation ranges, and 198.18.0.0/15 (RFC 2544, benchmarking): many /24s for swarms.
const DOC_RANGES = [/^192\.0\.2\.\d+$/, /^198\.51\.100\.\d+$/, /^203\.0\.113\.\d+$/, /^198\.1[89]\.\d+\.\d+$/, /^2001:db8(:|$)/i];

function assertDocumentation(address: string): void {
  const parsed = parseIpAddress(address);
  if (!parsed.ok || !DOC_RANGES.some((r) => r.test(parsed.value.text))) {
    throw new Error(`lab hosts use documentation addresses only, not ${address}`);
  }
}

async function ip(args: string[]): Promise<void> {
  await execa('ip', args);
}

/** Many `ip` commands in one namespace, one process: a soak's 14,000 addresses took 7 minutes one by one. */
async function ipBatch(namespace: string, commands: readonly string[]): Promise<void> {
  if (commands.length > 0) await execa('ip', ['-n', namespace, '-batch', '-'], { input: `${commands.join('\n')}\n` });
}

/** The namespace of a host of the star made with this prefix. */
export const namespaceOf = (prefix: string, host: string): string => `${prefix}-${host}`;

export class LabNetwork {
  private constructor(
    readonly prefix: string,
    readonly hub: HostSpec,
    readonly peers: readonly HostSpec[],
  ) {}

  /** The namespace name of a host. */
  ns(host: string): string {
    return namespaceOf(this.prefix, host);
  }

  /** Builds the star; removes what it made if any step fails. */
  static async create(prefix: string, hub: HostSpec, peers: readonly HostSpec[]): Promise<LabNetwork> {
    for (const h of [hub, ...peers]) h.addresses.forEach(assertDocumentation);
    const net = new LabNetwork(prefix, hub, peers);
    await LabNetwork.removeAll(prefix);
    try {
      await net.build();
    } catch (e) {
      await net.destroy();
      throw e;
    }
    return net;
  }

  /** Removes every namespace whose name starts with the prefix (leftovers of a killed run). */
  static async removeAll(prefix: string): Promise<void> {
    const { stdout } = await execa('ip', ['netns', 'list'], { reject: false });
    for (const line of String(stdout).split('\n')) {
      const name = line.split(' ')[0];
      if (name && name.startsWith(`${prefix}-`)) await execa('ip', ['netns', 'del', name], { reject: false });
    }
  }

  async destroy(): Promise<void> {
    for (const h of [this.hub, ...this.peers]) {
      await execa('ip', ['netns', 'del', this.ns(h.name)], { reject: false });
    }
  }

  private async build(): Promise<void> {
    const hubNs = this.ns(this.hub.name);
    await ip(['netns', 'add', hubNs]);
    await ip(['-n', hubNs, 'link', 'set', 'lo', 'up']);
    for (const a of this.hub.addresses) await ip(['-n', hubNs, 'addr', 'add', hostPrefix(a), 'dev', 'lo', ...nodad(a)]);
    for (const [i, peer] of this.peers.entries()) {
      const peerNs = this.ns(peer.name);
      const hubIf = `agh${i}-${process.pid % 10000}`;
      const peerIf = `agp${i}-${process.pid % 10000}`;
      await ip(['netns', 'add', peerNs]);
      await ip(['link', 'add', hubIf, 'type', 'veth', 'peer', 'name', peerIf]);
      await ip(['link', 'set', hubIf, 'netns', hubNs]);
      await ip(['link', 'set', peerIf, 'netns', peerNs]);
      await ip(['-n', peerNs, 'link', 'set', 'lo', 'up']);
      await ip(['-n', hubNs, 'link', 'set', hubIf, 'up']);
      await ip(['-n', peerNs, 'link', 'set', peerIf, 'up']);
      // Neighbour discovery answers only for addresses on the asking interface (ARP answers
      // for any local one), so the hub's IPv6 addresses go on each of its veths too.
      for (const a of this.hub.addresses.filter((x) => x.includes(':'))) {
        await ip(['-n', hubNs, 'addr', 'add', hostPrefix(a), 'dev', hubIf, 'nodad']);
      }
      await ipBatch(peerNs, peer.addresses.map((a) => ['addr', 'add', hostPrefix(a), 'dev', peerIf, ...nodad(a)].join(' ')));
      await ipBatch(hubNs, peer.addresses.map((a) => `route add ${hostPrefix(a)} dev ${hubIf}`));
      for (const a of this.hub.addresses) await ip(['-n', peerNs, 'route', 'add', hostPrefix(a), 'dev', peerIf]);
    }
  }
}

function hostPrefix(address: string): string {
  return address.includes(':') ? `${address}/128` : `${address}/32`;
}

function nodad(address: string): string[] {
  return address.includes(':') ? ['nodad'] : [];
}
