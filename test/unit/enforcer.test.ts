import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Enforcer } from '../../src/enforce/enforcer.js';
import type { Ban, FirewallDriver, FlowDirection } from '../../src/enforce/firewall-driver.js';
import { processRunner } from '../../src/enforce/command-runner.js';
import { NftablesDriver } from '../../src/enforce/nftables-driver.js';
import { GuardError } from '../../src/errors.js';
import { parseIpPrefix, type IpPrefix } from '../../src/net/ip-prefix.js';
import type { BanDecision } from '../../src/policy/decision.js';
import { ProblemCounter } from '../../src/pipeline.js';

function logCapture() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: 'debug' }, stream), lines };
}

function decision(text: string): BanDecision {
  const p = parseIpPrefix(text);
  if (!p.ok) throw new Error(p.reason);
  return {
    action: 'ban',
    target: p.value,
    time: 0,
    durationMs: 600_000,
    reason: 'brute-force',
    evidence: { source: text, trigger: 'burst', score: 5, slowScore: 5, events: { ChallengeResponseFailed: 5 }, accounts: ['1001'], services: ['PJSIP'], firstSeen: 0, lastSeen: 0 },
  };
}

/** A firewall whose first `failures` commits fail the way nft does, then work. */
class FlakyFirewall implements FirewallDriver {
  readonly name = 'flaky';
  readonly committed: Ban[][] = [];
  readonly flushed: string[] = [];
  constructor(private failures: number) {}
  async init() {}
  async ban(bans: readonly Ban[]) {
    if (this.failures-- > 0) throw new GuardError('AG_ERR_FIREWALL_COMMAND', 'nft -i exited 1: Error: Could not process rule: Device or resource busy');
    this.committed.push([...bans]);
  }
  async unban(_: readonly IpPrefix[]) {}
  async list() {
    return this.committed.flat();
  }
  async flushConnections(prefix: IpPrefix, direction: FlowDirection) {
    this.flushed.push(`${direction} ${prefix.text}`);
  }
  close() {}
  async destroy() {
    return false;
  }
}

const options = { now: () => 1_000_000, monotonic: () => performance.now(), retryBaseMs: 10, retryMaxMs: 50, conntrackAttempts: 2 };

describe('Enforcer', () => {
  it('keeps failed bans queued, retries them, and logs the command error once per attempt', async () => {
    const fw = new FlakyFirewall(2);
    const { log, lines } = logCapture();
    const enforcer = new Enforcer(fw, log, options);
    enforcer.submit(decision('203.0.113.66'), performance.now());
    await new Promise((r) => setTimeout(r, 200));
    await enforcer.drain();
    expect(fw.committed.flat().map((b) => b.prefix.text)).toEqual(['203.0.113.66']);
    expect(fw.committed[0]![0]!.until).toBe(1_000_000 + 600_000);
    // The attack's own flows first, alone; then the flows towards it.
    expect(fw.flushed).toEqual(['from 203.0.113.66', 'to 203.0.113.66']);
    expect(enforcer.stats).toMatchObject({ committed: 1, firewallErrors: 2 });
    const errors = lines.filter((l) => l['msg'] === 'firewall update failed; bans kept queued and retried');
    expect(errors).toHaveLength(2);
    expect(JSON.stringify(errors[0])).toContain('Device or resource busy');
    expect(lines.find((l) => l['msg'] === 'ban 203.0.113.66')).toMatchObject({ prefix: '203.0.113.66', evidence: { accounts: ['1001'] } });
  });

  it('puts decisions that arrive during a commit into one next transaction', async () => {
    const fw = new FlakyFirewall(0);
    const enforcer = new Enforcer(fw, logCapture().log, options);
    for (let i = 1; i <= 50; i++) enforcer.submit(decision(`203.0.113.${i}`), performance.now());
    await enforcer.drain();
    expect(fw.committed.flat()).toHaveLength(50);
    expect(fw.committed.length).toBeLessThanOrEqual(2);
  });

  it('names a missing nft and keeps going', async () => {
    const driver = new NftablesDriver(processRunner(['env', 'PATH=/nonexistent']), { table: 'asterisk_guard', priority: -310 });
    const { log, lines } = logCapture();
    const enforcer = new Enforcer(driver, log, options);
    expect(await enforcer.prepare()).toBe(false);
    expect(JSON.stringify(lines[0])).toMatch(/nft -f - exited 127: env: .*nft.*No such file or directory/);
    enforcer.stop();
    driver.close();
  });
});

describe('ProblemCounter', () => {
  it('counts every bad input and logs the first of each kind only', () => {
    const { log, lines } = logCapture();
    const problems = new ProblemCounter(log);
    for (let i = 0; i < 1000; i++) problems.report('bad-remote-address', `#${i}`);
    problems.report('oversized-line', 'x');
    expect(problems.counts.get('bad-remote-address')).toBe(1000);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ kind: 'bad-remote-address', detail: '#0' });
  });
});
