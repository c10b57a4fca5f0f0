import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { Guard } from '../../src/control/guard.js';
import { buildCore } from '../../src/core.js';
import { decisionBus } from '../../src/effects/bus.js';
import { Enforcer } from '../../src/enforce/enforcer.js';
import { createLogger } from '../../src/log.js';
import { Store } from '../../src/store/store.js';
import { FlakyFirewall } from '../support/flaky-firewall.js';
import { ManualClock } from '../support/manual-clock.js';
import { prefix as p } from '../support/prefix.js';

const log = createLogger('silent', 'stderr');

function setup(yaml = '{}') {
  const clock = new ManualClock();
  const fw = new FlakyFirewall(0);
  const bus = decisionBus();
  const changes: string[] = [];
  bus.on('committed', (d) => changes.push(`committed ${d.target.text} ${d.origin}`));
  bus.on('lifted', (prefix, _t, origin) => changes.push(`lifted ${prefix.text} ${origin}`));
  const config = parseConfig(yaml, 'test');
  const enforcer = new Enforcer(fw, bus, log, { clock, retryBaseMs: 10, retryMaxMs: 50, conntrackAttempts: 1 });
  const core = buildCore(config, log, { useEventTime: false, sink: enforcer });
  const store = Store.open(':memory:');
  const guard = new Guard({ ...core, enforcer, store, clock, ami: { connected: true, stats: { reconnects: 0 } }, configAllow: () => config.policy.allow, lastDecision: () => undefined, eventsPerSecond: () => 0 });
  return { guard, fw, changes, clock, enforcer };
}

describe('Guard (the admin socket’s facade)', () => {
  it('imports through the ledger: kernel, conntrack and bus like any ban; expired, spared and held ones skipped', async () => {
    const { guard, fw, changes, clock } = setup('policy: { allow: [198.51.100.0/24] }');
    await guard.ban({ cmd: 'ban', prefix: p('203.0.113.5'), for: null });
    const now = clock.now();
    const r = await guard.import({
      cmd: 'import',
      bans: [
        { prefix: p('203.0.113.1'), until: now + 3_600_000, reason: 'from pbx2' },
        { prefix: p('203.0.113.2'), until: null, reason: 'import' },
        { prefix: p('203.0.113.3'), until: now - 1, reason: 'import' },
        { prefix: p('198.51.100.7'), until: null, reason: 'import' },
        { prefix: p('203.0.113.5'), until: now + 60_000, reason: 'import' },
      ],
    });
    expect(r).toEqual({ imported: 2, skipped: 3 });
    expect(changes).toEqual(['committed 203.0.113.5 cli', 'committed 203.0.113.1 import', 'committed 203.0.113.2 import']);
    await new Promise((resolve) => setImmediate(resolve));
    expect(fw.flushed).toEqual(expect.arrayContaining(['from 203.0.113.1', 'to 203.0.113.1', 'from 203.0.113.2', 'to 203.0.113.2']));
    // "permanent" from another guard is bounded by the ladder's longest step (1 week).
    expect(guard.list({ cmd: 'list' }).find((b) => b.prefix === '203.0.113.2')).toMatchObject({ until: now + 604_800_000, reason: 'import', origin: 'import' });
    expect(guard.list({ cmd: 'list' }).find((b) => b.prefix === '203.0.113.1')).toMatchObject({ reason: 'from pbx2' });
  });

  it('refuses a ban overlapping the allow-list and an unban of what is not banned, changing nothing', async () => {
    const { guard, changes } = setup('policy: { allow: [198.51.100.10] }');
    await expect(guard.ban({ cmd: 'ban', prefix: p('198.51.100.0/24'), for: undefined })).rejects.toThrow(/198\.51\.100\.0\/24 is allow-listed \(198\.51\.100\.10\): it is never banned; disallow it first/);
    await expect(guard.unban({ cmd: 'unban', prefix: p('203.0.113.9') })).rejects.toThrow(/203\.0\.113\.9 is not banned/);
    expect(changes).toEqual([]);
    expect(guard.status({ cmd: 'status' }).active_bans).toBe(0);
  });

  it('bans on the ladder and lifts through the kernel', async () => {
    const { guard, changes, fw } = setup();
    expect(await guard.ban({ cmd: 'ban', prefix: p('203.0.113.9'), for: undefined, reason: 'seen in the CDRs' })).toMatchObject({ prefix: '203.0.113.9', step: 0 });
    expect(await guard.unban({ cmd: 'unban', prefix: p('203.0.113.9') })).toEqual({ prefix: '203.0.113.9', lifted: 1 });
    expect(await guard.ban({ cmd: 'ban', prefix: p('203.0.113.9'), for: undefined })).toMatchObject({ step: 1 });
    expect(changes).toEqual(['committed 203.0.113.9 cli', 'lifted 203.0.113.9 cli', 'committed 203.0.113.9 cli']);
    expect(fw.lifted).toEqual(['203.0.113.9']);
    expect(guard.list({ cmd: 'list' })).toHaveLength(1);
  });
});
