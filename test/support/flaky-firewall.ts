import type { Ban, FirewallDriver, FlowDirection, KernelBan } from '../../src/enforce/firewall-driver.js';
import { GuardError } from '../../src/errors.js';
import type { IpPrefix, PrefixText } from '../../src/net/ip-prefix.js';

/** A firewall whose first `failures` commits fail the way nft does, then work. */
export class FlakyFirewall implements FirewallDriver {
  readonly name = 'flaky';
  readonly committed: Ban[][] = [];
  readonly lifted: string[] = [];
  readonly flushed: string[] = [];
  readonly calls: string[] = [];
  constructor(private failures: number) {}
  async init() {}
  async ban(bans: readonly Ban[]) {
    if (this.failures-- > 0) throw new GuardError('AG_ERR_FIREWALL_COMMAND', 'nft -i exited 1: Error: Could not process rule: Device or resource busy');
    this.calls.push(`ban ${bans.length}`);
    this.committed.push([...bans]);
  }
  async unban(prefixes: readonly IpPrefix[]) {
    this.calls.push(`unban ${prefixes.length}`);
    this.lifted.push(...prefixes.map((p) => p.text));
  }
  async reconcile(bans: readonly Ban[]) {
    this.calls.push(`reconcile ${bans.length}`);
  }
  async setAllowed(prefixes: readonly IpPrefix[]) {
    this.calls.push(`allow ${prefixes.map((p) => p.text).join(',')}`);
  }
  async inspect() {
    return undefined;
  }
  async setListed(prefixes: readonly PrefixText[]) {
    this.calls.push(`listed ${prefixes.length}`);
    this.listed = [...prefixes];
  }
  listed: PrefixText[] = [];
  async rebuild(bans: readonly Ban[], allowed: readonly IpPrefix[], _now: number, listed: readonly PrefixText[] = []) {
    this.calls.push(`rebuild ${bans.length} ${allowed.length} ${listed.length}`);
  }
  async list(): Promise<KernelBan[]> {
    return this.committed.flat().map((b) => ({ ...b, ours: true, added: null }));
  }
  async flushConnections(prefix: IpPrefix, direction: FlowDirection) {
    this.flushed.push(`${direction} ${prefix.text}`);
  }
  close() {}
  async destroy() {
    return false;
  }
}

