// The composition root: the only file that knows every stage and wires them together.
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { AmiClient } from './ami/client.js';
import { resolveAmiOptions } from './ami/settings.js';
import type { Config } from './config/schema.js';
import { Scoreboard } from './detect/scoreboard.js';
import { execaRunner, type CommandRunner } from './enforce/command-runner.js';
import { DryRunDriver } from './enforce/dry-run-driver.js';
import { Enforcer } from './enforce/enforcer.js';
import type { FirewallDriver } from './enforce/firewall-driver.js';
import { NftablesDriver } from './enforce/nftables-driver.js';
import { parseIpAddress, type IpPrefix } from './net/ip-prefix.js';
import { Pipeline, ProblemCounter } from './pipeline.js';
import { Policy } from './policy/policy.js';
import { warningText } from './policy/decision.js';

/** The pure part of the guard, built from the config: the same for `run` and `replay`. */
export function buildPipeline(config: Config, log: Logger, useEventTime: boolean, neverBan: readonly IpPrefix[] = []): { pipeline: Pipeline; policy: Policy; scoreboard: Scoreboard } {
  const d = config.detect;
  const scoreboard = new Scoreboard({
    threshold: d.threshold,
    halfLifeMs: d.half_life,
    slowThreshold: d.slow_threshold,
    slowHalfLifeMs: d.slow_half_life,
    weights: d.weights,
    ipv6PrefixLength: d.ipv6_prefix,
    maxSources: d.max_sources,
    maxAccountsPerSource: 16,
  });
  const policy = new Policy(
    { bantimeMs: config.policy.bantime, allow: config.policy.allow, neverBan, ipv6PrefixLength: d.ipv6_prefix },
    scoreboard,
  );
  return { pipeline: new Pipeline(policy, new ProblemCounter(log), useEventTime), policy, scoreboard };
}

export function buildDriver(config: Config, log: Logger, runner: CommandRunner = execaRunner()): FirewallDriver {
  if (config.firewall.driver === 'dry-run') return new DryRunDriver(log);
  return new NftablesDriver(runner, { table: config.firewall.table, priority: config.firewall.priority });
}

export interface RunningService {
  readonly ami: AmiClient;
  readonly enforcer: Enforcer;
  readonly pipeline: Pipeline;
  /** Stop reading, finish kernel updates in flight; bans stay in the kernel. */
  stop(): Promise<void>;
}

export interface ServiceOptions {
  readonly runner?: CommandRunner;
  readonly driver?: FirewallDriver;
}

/** Starts the daemon. Rejects when Asterisk refuses the login or manager.conf is unusable. */
export async function startService(config: Config, log: Logger, options: ServiceOptions = {}): Promise<RunningService> {
  const amiOptions = resolveAmiOptions(config);
  const amiHost = parseIpAddress(amiOptions.host);
  const { pipeline } = buildPipeline(config, log, false, amiHost.ok ? [amiHost.value] : []);
  const driver = options.driver ?? buildDriver(config, log, options.runner);
  const enforcer = new Enforcer(driver, log, {
    now: Date.now,
    monotonic: () => performance.now(),
    retryBaseMs: config.firewall.retry_base,
    retryMaxMs: config.firewall.retry_max,
    conntrackAttempts: 3,
  });
  await enforcer.prepare();
  const ami = new AmiClient(amiOptions);
  ami.on('event', (fields, arrival) => {
    const received = performance.now();
    const result = pipeline.ingest(fields, arrival);
    const decision = result?.decision;
    if (decision?.action === 'ban') enforcer.submit(decision, received);
    else if (decision?.action === 'warn') log.warn({ decision: 'warn', prefix: decision.target.text, reason: decision.reason, evidence: decision.evidence }, warningText(decision));
  });
  ami.on('malformed', (kind, detail) => pipeline.problems.report(kind, detail));
  ami.on('connected', (banner) => log.info({ host: amiOptions.host, port: amiOptions.port, banner, settings_from: amiOptions.source }, 'AMI connected, receiving security events'));
  ami.on('disconnected', (reason, retryInMs) => log.warn({ reason, retry_in_ms: retryInMs }, 'AMI connection lost; reconnecting'));
  ami.on('authFailed', (error) => log.error({ code: error.code }, error.message));
  try {
    await ami.start();
  } catch (e) {
    driver.close();
    throw e;
  }
  return {
    ami,
    enforcer,
    pipeline,
    async stop() {
      await ami.stop();
      await enforcer.drain();
      enforcer.stop();
      driver.close();
    },
  };
}
