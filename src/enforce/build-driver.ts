import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { processRunner, type CommandRunner } from './command-runner.js';
import { DryRunDriver } from './dry-run-driver.js';
import type { FirewallDriver } from './firewall-driver.js';
import { NftablesDriver } from './nftables-driver.js';

/** The firewall driver the config names. */
export function buildDriver(config: Config, log: Logger, runner: CommandRunner = processRunner()): FirewallDriver {
  if (config.firewall.driver === 'dry-run') return new DryRunDriver(log);
  const p = config.policy;
  const ranges = [
    { family: 4 as const, length: p.range.ipv4_prefix },
    { family: 6 as const, length: p.range.ipv6_prefix },
    { family: 4 as const, length: p.subnet.ipv4_prefix },
    { family: 6 as const, length: p.subnet.ipv6_prefix },
  ];
  return new NftablesDriver(runner, { table: config.firewall.table, priority: config.firewall.priority }, ranges);
}
