import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { Core } from '../../src/core.js';
import { decisionBus } from '../../src/effects/bus.js';
import { createLogger } from '../../src/log.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { alertsPart } from '../../src/parts/alerts-part.js';
import { ManualClock } from '../support/manual-clock.js';
import { changedKeys, offPart, reloadParts, startParts, statusOf, stopParts, type Part } from '../../src/parts/part.js';

// The daemon's life as a list of parts (src/service.ts): what the list guarantees, whatever the
// parts are. A made-up part stands for the next one added.

function recorder() {
  const said: string[] = [];
  const part = (name: string, o: Partial<Part> = {}): Part => ({
    name,
    async start() {
      said.push(`start ${name}`);
    },
    async stop() {
      said.push(`stop ${name}`);
    },
    ...o,
  });
  return { said, part };
}

describe('the alerts part', () => {
  it('names alerts.retries and alerts.digest_interval as needing a restart, and swaps channels live (issue 24)', async () => {
    const running = parseConfig('{}', 'running');
    const next = parseConfig('alerts: { retries: [1s], digest_interval: 5m, channels: [{ type: webhook, url: "http://127.0.0.1:9/x" }] }', 'next');
    const ctx = { log: createLogger('silent', 'stderr'), clock: new ManualClock(), bus: decisionBus(), core: {} as Core, config: () => running };
    const { needRestart, applied } = await reloadParts([alertsPart(ctx)], running, next);
    expect(needRestart).toEqual(['alerts.retries', 'alerts.digest_interval']);
    expect(applied.alerts.channels).toHaveLength(1);
    expect(applied.alerts.retries).toEqual(running.alerts.retries);
  });
});

describe('parts', () => {
  it('start in order and stop in reverse', async () => {
    const { said, part } = recorder();
    const parts = [part('store'), part('kernel'), part('ami')];
    expect(await startParts(parts)).toBe('started');
    await stopParts(parts);
    expect(said).toEqual(['start store', 'start kernel', 'start ami', 'stop ami', 'stop kernel', 'stop store']);
  });

  it('a part that fails to start: the ones started, and it, are stopped in reverse; the rest never start', async () => {
    const { said, part } = recorder();
    const parts = [
      part('store'),
      part('control', {
        async start() {
          said.push('start control');
          throw new Error('socket in use');
        },
      }),
      part('ami'),
    ];
    await expect(startParts(parts)).rejects.toThrow('socket in use');
    expect(said).toEqual(['start store', 'start control', 'stop control', 'stop store']);
  });

  it('a stop asked for while a part starts: the start unwinds after that part', async () => {
    const { said, part } = recorder();
    const stopping = new AbortController();
    const parts = [
      part('kernel'),
      part('ami', {
        async start() {
          said.push('start ami');
          stopping.abort();
        },
      }),
      part('later'),
    ];
    expect(await startParts(parts, stopping.signal)).toBe('abandoned');
    expect(said).toEqual(['start kernel', 'start ami', 'stop ami', 'stop kernel']);
  });

  it('a reload gives every part the new config, with what only a restart changes kept as it runs', async () => {
    const running = parseConfig('detect: { threshold: 5 }\nami: { secret: old }', 'running');
    const next = parseConfig('detect: { threshold: 8, max_sources: 5000 }\nami: { secret: new }', 'next');
    const seen: Array<{ threshold: number; maxSources: number; secret: string | undefined }> = [];
    const parts: Part[] = [
      { name: 'ami', restartOnly: (r, n) => changedKeys(r, n, ['ami']) },
      { name: 'scores', restartOnly: (r, n) => (r.detect.max_sources !== n.detect.max_sources ? ['detect.max_sources'] : []) },
      { name: 'a new part', reload: (c) => void seen.push({ threshold: c.detect.threshold, maxSources: c.detect.max_sources, secret: c.ami.secret }) },
    ];
    const { applied, needRestart } = await reloadParts(parts, running, next);
    expect(needRestart).toEqual(['ami', 'detect.max_sources']);
    expect(seen).toEqual([{ threshold: 8, maxSources: running.detect.max_sources, secret: 'old' }]);
    expect(Object.isFrozen(applied)).toBe(true);
  });

  it('status, doctor checks and metrics come from every part, a new one included', async () => {
    const parts: Part[] = [
      { name: 'kernel', status: () => ({ kernel: { table: 'whole' } }), checks: () => [{ check: 'kernel table', status: 'ok', detail: 'whole' }] },
      offPart('fleet', ['fleet']),
      {
        name: 'a new part',
        status: () => ({ feeds: { lists: 2 } }),
        checks: () => [{ check: 'feeds', status: 'fail', detail: 'one list failed', fix: 'see its URL' }],
        metrics: () => [{ name: 'asterisk_guard_feed_entries', help: 'entries', type: 'gauge', read: () => 42 }],
      },
    ];
    expect(statusOf(parts)).toEqual({
      kernel: { table: 'whole' },
      fleet: null,
      feeds: { lists: 2 },
      checks: [
        { check: 'kernel table', status: 'ok', detail: 'whole' },
        { check: 'feeds', status: 'fail', detail: 'one list failed', fix: 'see its URL' },
      ],
    });
    const metrics = new Metrics(parts.flatMap((p) => p.metrics?.() ?? []));
    expect(await metrics.registry.metrics()).toContain('asterisk_guard_feed_entries 42');
  });

  it('a part the config leaves off says so, and turning it on needs a restart', () => {
    const off = offPart('fleet', ['fleet']);
    const running = parseConfig('{}', 'running');
    const next = parseConfig('fleet: { redis: "redis://127.0.0.1:6379", node: pbx-a }', 'next');
    expect(off.status?.()).toEqual({ fleet: null });
    expect(off.restartOnly?.(running, next)).toEqual(['fleet']);
    expect(off.restartOnly?.(running, running)).toEqual([]);
  });
});
