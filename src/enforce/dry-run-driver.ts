import type { Logger } from 'pino';
import type { IpPrefix, PrefixText } from '../net/ip-prefix.js';
import type { Ban, FirewallDriver, FlowDirection, KernelBan } from './firewall-driver.js';

/**
 * A real backend that changes nothing: says what it would do. It keeps no copy of the bans
 * (the ledger has them; a million would cost as much again here), so its "kernel" is empty.
 */
export class DryRunDriver implements FirewallDriver {
  readonly name = 'dry-run';

  constructor(private readonly log: Logger) {}

  async init(): Promise<void> {
    this.log.info({ driver: this.name }, 'dry-run firewall: nothing will be dropped');
  }

  async ban(bans: readonly Ban[], now: number): Promise<void> {
    for (const b of bans) {
      this.log.info({ prefix: b.prefix.text, seconds: b.until === null ? null : Math.round((b.until - now) / 1000) }, 'dry-run: would drop');
    }
  }

  async unban(prefixes: readonly IpPrefix[]): Promise<void> {
    for (const p of prefixes) {
      this.log.info({ prefix: p.text }, 'dry-run: would stop dropping');
    }
  }

  async reconcile(bans: readonly Ban[], now: number): Promise<void> {
    await this.ban(bans, now);
  }

  async setAllowed(prefixes: readonly IpPrefix[]): Promise<void> {
    this.log.info({ allowed: prefixes.map((p) => p.text) }, 'dry-run: would accept these first');
  }

  async setListed(prefixes: readonly PrefixText[]): Promise<void> {
    this.log.info({ entries: prefixes.length }, 'dry-run: would drop what the feeds list');
  }

  async list(): Promise<KernelBan[]> {
    return [];
  }

  async inspect(): Promise<string | undefined> {
    return undefined;
  }

  async rebuild(bans: readonly Ban[], allowed: readonly IpPrefix[], now: number, listed: readonly PrefixText[] = []): Promise<void> {
    await this.reconcile(bans, now);
    await this.setAllowed(allowed);
    await this.setListed(listed);
  }

  async flushConnections(prefix: IpPrefix, direction: FlowDirection): Promise<void> {
    this.log.debug({ prefix: prefix.text, direction }, 'dry-run: would delete tracked connections');
  }

  close(): void {}

  async destroy(): Promise<boolean> {
    return false;
  }
}
