import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { buildCore } from '../../src/core.js';
import { createLogger } from '../../src/log.js';
import type { AlertDecision, BanDecision } from '../../src/policy/decision.js';
import { replayFile } from '../../src/replay.js';
import type { PipelineDecision } from '../../src/pipeline.js';
import { event } from '../support/events.js';

const log = createLogger('silent', 'stderr');
const defaults = parseConfig('{}', 'test');
const MIN = 60_000;

/** The policy, answering with its first ban or alert for each event (trust is not a verdict). */
function policy(yaml = '{}') {
  const p = buildCore(parseConfig(yaml, 'test'), log, { useEventTime: true }).policy;
  return {
    outcomes: p.outcomes,
    handle: (e: Parameters<typeof p.handle>[0]) => p.handle(e).find((d): d is BanDecision | AlertDecision => d.action !== 'trust'),
  };
}

describe('default scoring', () => {
  it('bans the svcrack flood of the real capture on its 5th failed guess', async () => {
    const seen: PipelineDecision[] = [];
    const summary = await replayFile(new URL('../fixtures/asterisk22-security-log.txt', import.meta.url).pathname, defaults, log, (d) => seen.push(d));
    expect(seen.map((d) => (d.action === 'fraud' ? d.endpoint : (d.target?.text ?? '-')))).toEqual(['203.0.113.66']);
    // The summary counts them: a replay of millions holds none (issue 24).
    expect(summary.decisions).toBe(1);
    const ban = seen[0]!;
    expect(ban.action === 'ban' && ban.evidence?.events).toEqual({ ChallengeResponseFailed: 5 });
  });

  it('bans a slow attacker guessing once a minute within the hour', () => {
    const p = policy();
    let bannedAt: number | undefined;
    for (let i = 0; i < 60 && bannedAt === undefined; i++) {
      if (p.handle(event('ChallengeResponseFailed', '203.0.113.9', i * MIN))?.action === 'ban') bannedAt = i;
    }
    expect(bannedAt).toBeDefined();
    expect(bannedAt!).toBeGreaterThan(10);
    expect(bannedAt!).toBeLessThan(60);
  });

  it('does not ban a phone with a stale password retrying every 60 s in its first 10 minutes, and warns once naming the account', () => {
    const p = policy();
    const decisions = [];
    for (let t = 0; t <= 10 * MIN; t += MIN) {
      const d = p.handle(event('ChallengeResponseFailed', '198.51.100.10', t, { AccountID: '1003' }));
      if (d) decisions.push(d);
    }
    expect(decisions).toHaveLength(1);
    expect(decisions[0]).toMatchObject({ action: 'alert', severity: 'warning', reason: 'stale-password', text: '198.51.100.10: account 1003 failing, stale password?' });
  });

  it('does not mistake a flood or an enumeration for a stale password', () => {
    const p = policy();
    const flood = [0, 1, 2, 3, 4].map((i) => p.handle(event('ChallengeResponseFailed', '203.0.113.66', i * 6)));
    expect(flood.map((d) => d?.action)).toEqual([undefined, undefined, undefined, undefined, 'ban']);
    const accounts = [0, 1, 2, 3].map((i) => p.handle(event('ChallengeResponseFailed', '203.0.113.67', i * MIN, { AccountID: `10${i}` })));
    expect(accounts.filter((d) => d !== undefined)).toEqual([]);
  });

  it('ignores ChallengeSent and SuccessfulAuth for banning', () => {
    const p = policy();
    for (let i = 0; i < 100; i++) {
      expect(p.handle(event('ChallengeSent', '203.0.113.9', i))).toBeUndefined();
      expect(p.handle(event('SuccessfulAuth', '198.51.100.9', i))).toBeUndefined();
    }
  });

  it('scores IPv6 sources per /64 and bans the /64', () => {
    const p = policy();
    const decisions = [1, 2, 3, 4, 5].map((i) => p.handle(event('InvalidAccountID', `2001:db8:66::${i}`, i)));
    expect(decisions.slice(0, 4)).toEqual([undefined, undefined, undefined, undefined]);
    expect(decisions[4]?.target?.text).toBe('2001:db8:66::/64');
  });

  it('honours the configured threshold and weights', () => {
    const p = policy('detect: { threshold: 3, weights: { InvalidAccountID: 0.5 } }');
    const kinds = ['InvalidAccountID', 'InvalidAccountID', 'ChallengeResponseFailed', 'InvalidAccountID', 'InvalidAccountID'] as const;
    const results = kinds.map((k, i) => p.handle(event(k, '203.0.113.7', i)));
    expect(results.findIndex((r) => r !== undefined)).toBe(4);
  });

  it('does not ban again while a ban lasts, and scores afresh after it ends', () => {
    const p = policy('policy: { ladder: [10m] }');
    for (let i = 0; i < 5; i++) p.handle(event('ChallengeResponseFailed', '203.0.113.9', i));
    for (let i = 0; i < 50; i++) expect(p.handle(event('ChallengeResponseFailed', '203.0.113.9', 1000 + i))).toBeUndefined();
    const after = [0, 1, 2, 3, 4].map((i) => p.handle(event('ChallengeResponseFailed', '203.0.113.9', 11 * MIN + i)));
    expect(after[4]?.target?.text).toBe('203.0.113.9');
  });
});

describe('allow-list and never-ban', () => {
  it('never bans an allow-listed source, loopback or the PBX itself', () => {
    const p = policy('policy: { allow: [198.51.100.0/24] }');
    for (const src of ['198.51.100.10', '127.0.0.1', '::1', '192.0.2.1']) {
      for (let i = 0; i < 50; i++) expect(p.handle(event('ChallengeResponseFailed', src, i))).toBeUndefined();
    }
    expect(p.outcomes.allowed).toBe(200);
  });

  it('bans only the address, not its /64, when the /64 holds an allowed address', () => {
    const p = policy('policy: { allow: ["2001:db8:66::10"] }');
    let d;
    for (let i = 0; i < 5; i++) d = p.handle(event('ChallengeResponseFailed', '2001:db8:66::66', i));
    expect(d?.target?.text).toBe('2001:db8:66::66');
  });

  it('forgets the least recently seen sources beyond max_sources', () => {
    const { policy: p, scoreboard } = buildCore(parseConfig('detect: { max_sources: 3 }', 'test'), log, { useEventTime: true });
    // Sources in ten /24s, on ten accounts: no range and no siege, only the sources' own board.
    for (let i = 1; i <= 10; i++) p.handle(event('ChallengeResponseFailed', `198.18.${i}.1`, i, { AccountID: `${1000 + i}` }));
    expect(scoreboard.size).toBe(3);
    // 198.18.1.1 was evicted: four more failures are not enough to ban it.
    for (let i = 0; i < 4; i++) expect(p.handle(event('ChallengeResponseFailed', '198.18.1.1', 20 + i, { AccountID: '1001' }))).toEqual([]);
  });
});

describe('memory of the evidence', () => {
  it('keeps an account name, not the text it was read from (a 64 KiB chunk each)', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const core = buildCore(defaults, log, { useEventTime: true });
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 1000; i++) {
      // A name as a line reader hands it over: a slice of a large string read in one piece.
      const chunk = `${String(i).padStart(6, '0')}${'x'.repeat(64 * 1024)}`;
      core.policy.handle(event('InvalidAccountID', `198.18.${i >> 8}.${i & 255}`, i * MIN, { AccountID: chunk.slice(0, 16) }));
    }
    gc();
    // Retained chunks would be 64 MB.
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(16 << 20);
  });
});
