import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { processRunner, type CommandRunner } from './command-runner.js';
import { DryRunDriver } from './dry-run-driver.js';
import type { FirewallDriver } from './firewall-driver.js';
import { NftablesDriver } from './nftables-driver.js';

/** The firewall driver the config names. */
export function buildDriver(config: Config, log: Logger, runner: CommandRunner = processRunner()): FirewallDriver {
  if (config.firewall.driver === 'dry-run') return new DryRunDriver(log);
  return new NftablesDriver(runner, { table: config.firewall.table, priority: config.firewall.priority });
}
