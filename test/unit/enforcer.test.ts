import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Enforcer } from '../../src/enforce/enforcer.js';
import { FlakyFirewall } from '../support/flaky-firewall.js';
import type { Ban, FirewallDriver, FlowDirection } from '../../src/enforce/firewall-driver.js';
import { GuardError } from '../../src/errors.js';
import { processRunner } from '../../src/enforce/command-runner.js';
import { NftablesDriver } from '../../src/enforce/nftables-driver.js';
import { parseIpPrefix, type IpPrefix } from '../../src/net/ip-prefix.js';
import type { BanDecision } from '../../src/policy/decision.js';
import { ProblemCounter } from '../../src/pipeline.js';
import { decisionBus } from '../../src/effects/bus.js';
import { ManualClock } from '../support/manual-clock.js';

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
    step: 0,
    reason: 'brute-force',
    origin: 'auto',
    replaces: false,
    note: undefined,
    evidence: { source: text, trigger: 'burst', score: 5, slowScore: 5, events: { ChallengeResponseFailed: 5 }, accounts: ['1001'], services: ['PJSIP'], firstSeen: 0, lastSeen: 0 },
  };
}

function setup(fw: FirewallDriver) {
  const clock = new ManualClock(1_000_000);
  const { log, lines } = logCapture();
  const bus = decisionBus();
  const seen: string[] = [];
  bus.on('committed', (d, until) => seen.push(`committed ${d.target.text} until ${until}`));
  bus.on('lifted', (p) => seen.push(`lifted ${p.text}`));
  bus.on('trouble', (t) => seen.push(`trouble ${t.kind}`));
  const enforcer = new Enforcer(fw, bus, log, { clock, retryBaseMs: 10, retryMaxMs: 50, conntrackAttempts: 2 });
  return { clock, lines, bus, seen, enforcer };
}

describe('Enforcer', () => {
  it('keeps failed bans queued, retries them with backoff, and tells the bus once they are in', async () => {
    const fw = new FlakyFirewall(2);
    const { clock, lines, seen, enforcer } = setup(fw);
    enforcer.ban(decision('203.0.113.66'));
    await clock.advance(0);
    expect(fw.committed).toEqual([]);
    expect(seen).toEqual(['trouble firewall-failing']);
    await clock.advance(10);
    expect(fw.committed).toEqual([]);
    await clock.advance(20);
    await enforcer.drain();
    expect(fw.committed.flat().map((b) => b.prefix.text)).toEqual(['203.0.113.66']);
    // Kernel timeouts are wall time at the commit.
    expect(fw.committed[0]![0]!.until).toBe(1_000_030 + 600_000);
    expect(seen).toEqual(['trouble firewall-failing', `committed 203.0.113.66 until ${1_000_030 + 600_000}`]);
    // The attack's own flows first, alone; then the flows towards it.
    expect(fw.flushed).toEqual(['from 203.0.113.66', 'to 203.0.113.66']);
    expect(enforcer.stats).toMatchObject({ committed: 1, firewallErrors: 2 });
    const errors = lines.filter((l) => l['msg'] === 'firewall update failed; bans kept queued and retried');
    expect(errors.map((e) => e['retry_in_ms'])).toEqual([10, 20]);
    expect(JSON.stringify(errors[0])).toContain('Device or resource busy');
  });

  it('commits the bans of one turn in one transaction (a siege\'s first ten members went in as 1 and 9)', async () => {
    const fw = new FlakyFirewall(0);
    const { enforcer } = setup(fw);
    for (let i = 1; i <= 10; i++) enforcer.ban(decision(`2001:db8:${i}::/64`));
    await enforcer.drain();
    expect(fw.calls).toEqual(['ban 10']);
  });

  it('puts changes that arrive during a commit into one next transaction, in order', async () => {
    const fw = new FlakyFirewall(0);
    const { enforcer } = setup(fw);
    enforcer.ban(decision('203.0.113.50'));
    // The first commit is under way: what follows waits for it.
    await Promise.resolve();
    await Promise.resolve();
    for (let i = 1; i <= 49; i++) enforcer.ban(decision(`203.0.113.${i}`));
    enforcer.lift(decision('203.0.113.1').target, 0, 'cli');
    enforcer.setAllowed([decision('198.51.100.1').target]);
    enforcer.setAllowed([decision('198.51.100.2').target]);
    enforcer.ban(decision('203.0.113.99'));
    await enforcer.drain();
    expect(fw.calls).toEqual(['ban 1', 'ban 49', 'unban 1', 'allow 198.51.100.2', 'ban 1']);
  });

  it('flushes conntrack for a wave of bans a few at a time', async () => {
    let inFlight = 0;
    let most = 0;
    const fw = new (class extends FlakyFirewall {
      override async flushConnections(prefix: IpPrefix, direction: FlowDirection) {
        most = Math.max(most, ++inFlight);
        await new Promise((r) => setImmediate(r));
        inFlight--;
        await super.flushConnections(prefix, direction);
      }
    })(0);
    const { enforcer } = setup(fw);
    for (let i = 1; i <= 40; i++) enforcer.ban(decision(`203.0.113.${i}`));
    await enforcer.drain();
    expect(fw.flushed).toHaveLength(80);
    expect(most).toBeLessThanOrEqual(4);
  });

  it('lets no conntrack flush run beside a commit: a ban arriving kills it, and it runs again after (the swarm\'s range ban)', async () => {
    const events: string[] = [];
    let releaseCommit: (() => void) | undefined;
    const fw = new (class extends FlakyFirewall {
      override async ban(bans: readonly Ban[]) {
        events.push(`commit ${bans.map((b) => b.prefix.text).join(',')} start`);
        if (bans[0]!.prefix.text === '198.18.7.0/24') await new Promise<void>((r) => (releaseCommit = r));
        await super.ban(bans);
        events.push('commit end');
      }
      override async flushConnections(prefix: IpPrefix, direction: FlowDirection, signal?: AbortSignal) {
        events.push(`flush ${direction} ${prefix.text} start`);
        // A conntrack delete walks the whole table: it takes a while, unless killed.
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(resolve, 30);
          signal?.addEventListener('abort', () => {
            clearTimeout(timer);
            events.push(`flush ${direction} ${prefix.text} killed`);
            reject(new Error('killed'));
          });
        });
        await super.flushConnections(prefix, direction);
      }
    })(0);
    const { enforcer, lines } = setup(fw);
    enforcer.ban(decision('198.18.7.5'));
    await new Promise((r) => setTimeout(r, 5));
    enforcer.ban(decision('198.18.7.0/24'));
    await new Promise((r) => setTimeout(r, 5));
    // The range's commit is still in the kernel: no flush starts meanwhile.
    expect(events.slice(-1)).toEqual(['commit 198.18.7.0/24 start']);
    releaseCommit!();
    await enforcer.drain();
    expect(events).toEqual([
      'commit 198.18.7.5 start',
      'commit end',
      'flush from 198.18.7.5 start',
      'flush from 198.18.7.5 killed',
      'commit 198.18.7.0/24 start',
      'commit end',
      'flush from 198.18.7.5 start',
      'flush from 198.18.7.0/24 start',
      'flush to 198.18.7.5 start',
      'flush to 198.18.7.0/24 start',
    ]);
    // A killed flush is not a failed one.
    expect(lines.filter((l) => l['msg'] === 'conntrack flush failed')).toEqual([]);
    expect(fw.flushed.sort()).toEqual(['from 198.18.7.0/24', 'from 198.18.7.5', 'to 198.18.7.0/24', 'to 198.18.7.5']);
  });

  it('kills a command when its signal aborts, and says so', async () => {
    const abort = new AbortController();
    const started = Date.now();
    const running = processRunner().run('sleep', ['5'], undefined, abort.signal);
    setTimeout(() => abort.abort(), 20);
    const result = await running;
    expect(Date.now() - started).toBeLessThan(2000);
    expect(result).toMatchObject({ exitCode: -1, stderr: 'aborted' });
  });

  it("flushes an attacker's flows before those of an import queued earlier", async () => {
    const fw = new (class extends FlakyFirewall {
      override async flushConnections(prefix: IpPrefix, direction: FlowDirection) {
        await new Promise((r) => setImmediate(r));
        await super.flushConnections(prefix, direction);
      }
    })(0);
    const { enforcer } = setup(fw);
    for (let i = 1; i <= 20; i++) enforcer.ban({ ...decision(`198.51.100.${i}`), origin: 'import', reason: 'import' });
    await new Promise((r) => setImmediate(r));
    enforcer.ban(decision('203.0.113.66'));
    await enforcer.drain();
    expect(fw.flushed.indexOf('from 203.0.113.66')).toBeLessThan(fw.flushed.indexOf('from 198.51.100.10'));
  });

  it('commits the rest of a batch the kernel refuses for one element, and retries that one alone', async () => {
    let refuse = true;
    const fw = new (class extends FlakyFirewall {
      override async ban(bans: readonly Ban[]) {
        if (refuse && bans.some((b) => b.prefix.text === '203.0.113.13')) throw new GuardError('AG_ERR_FIREWALL_COMMAND', 'nft -i exited 1: Error: Could not process rule: Numerical result out of range');
        await super.ban(bans);
      }
    })(0);
    const { clock, seen, enforcer, lines } = setup(fw);
    for (let i = 10; i < 20; i++) enforcer.ban(decision(`203.0.113.${i}`));
    await enforcer.drain();
    for (let i = 20; i < 30; i++) enforcer.ban(decision(`203.0.113.${i}`));
    await enforcer.drain();
    const committed = fw.committed.flat().map((b) => b.prefix.text);
    expect(committed).toHaveLength(19);
    expect(committed).not.toContain('203.0.113.13');
    expect(seen.filter((l) => l.startsWith('trouble'))).toEqual(['trouble firewall-failing']);
    expect(lines.find((l) => l['msg'] === 'the kernel refused this ban alone; the others went in; it is retried')).toMatchObject({ prefix: '203.0.113.13', retry_in_ms: 10 });
    refuse = false;
    await clock.advance(10);
    await enforcer.drain();
    expect(fw.committed.flat().map((b) => b.prefix.text)).toContain('203.0.113.13');
  });

  it('names a missing nft and keeps going', async () => {
    const driver = new NftablesDriver(processRunner(['env', 'PATH=/nonexistent']), { table: 'asterisk_guard', priority: -310 });
    const { lines, enforcer } = setup(driver);
    expect(await enforcer.prepare()).toBe(false);
    expect(JSON.stringify(lines.find((l) => l['msg'] === 'firewall setup failed; retried before the next ban'))).toMatch(/nft -f - exited 127: env: .*nft.*No such file or directory/);
    enforcer.stop();
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
