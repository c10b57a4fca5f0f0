import { describe, expect, it } from 'vitest';
import { DecisionLog, goDuration } from '../../src/feeds/decision-log.js';
import { prefix } from '../support/prefix.js';

const NOW = 1_800_000_000_000;
const ban = (text: string, untilIn: number | null = 3_600_000, reason = 'brute-force') => ({ prefix: prefix(text), until: untilIn === null ? null : NOW + untilIn, reason });

describe('DecisionLog (the bouncer stream)', () => {
  it('gives a bouncer everything in force at startup, then only what changed since its own last pull', () => {
    const log = new DecisionLog(100);
    const inForce = [ban('203.0.113.1'), ban('2001:db8:1::/64', null)];
    const first = log.stream('edge', true, () => inForce, NOW);
    expect(first.deleted).toBeNull();
    expect(first.new!.map((d) => [d.scope, d.value, d.duration])).toEqual([['Ip', '203.0.113.1', '1h0m0s'], ['Range', '2001:db8:1::/64', '87600h0m0s']]);
    expect(log.stream('edge', false, () => inForce, NOW)).toEqual({ new: null, deleted: null });
    log.banned(ban('203.0.113.2'));
    log.banned(ban('203.0.113.3'));
    log.lifted(prefix('203.0.113.3'));
    log.lifted(prefix('203.0.113.1'));
    const next = log.stream('edge', false, () => [], NOW);
    expect(next.new!.map((d) => d.value)).toEqual(['203.0.113.2']);
    expect(next.deleted!.map((d) => d.value)).toEqual(['203.0.113.3', '203.0.113.1']);
    // Another bouncer has its own cursor: its first pull is everything in force.
    expect(log.stream('nginx', false, () => [ban('203.0.113.2')], NOW).new!.map((d) => d.value)).toEqual(['203.0.113.2']);
  });

  it('gives everything in force again to a bouncer the bounded log left behind', () => {
    const log = new DecisionLog(10);
    log.stream('edge', true, () => [], NOW);
    for (let i = 1; i <= 30; i++) log.banned(ban(`203.0.113.${i}`));
    const r = log.stream('edge', false, () => [ban('203.0.113.30')], NOW);
    expect(r.new!.map((d) => d.value)).toEqual(['203.0.113.30']);
  });

  it('leaves out bans that ended before the pull', () => {
    const log = new DecisionLog(10);
    log.stream('edge', true, () => [], NOW);
    log.banned(ban('203.0.113.9', -1));
    expect(log.stream('edge', false, () => [], NOW)).toEqual({ new: null, deleted: null });
  });
});

describe('goDuration', () => {
  it('prints as Go does', () => {
    expect(goDuration(0)).toBe('0s');
    expect(goDuration(59_999)).toBe('59s');
    expect(goDuration(61_000)).toBe('1m1s');
    expect(goDuration(3 * 3_600_000 + 59 * 60_000 + 55_000)).toBe('3h59m55s');
  });
});
