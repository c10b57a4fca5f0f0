import Database from 'better-sqlite3';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isGuardError } from '../../src/errors.js';
import { event } from '../support/events.js';
import { guardHarness, type HarnessOptions } from '../support/guard-harness.js';
import { prefix as p } from '../support/prefix.js';

function setup(yaml = '{}', file = ':memory:', fleet?: HarnessOptions['fleet']) {
  const h = guardHarness(yaml, { file, fleet });
  const changes: string[] = [];
  h.bus.on('committed', (d) => changes.push(`committed ${d.target.text} ${d.origin}`));
  h.bus.on('lifted', (prefix, _t, origin) => changes.push(`lifted ${prefix.text} ${origin}`));
  return { ...h, changes };
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
    const listed = [...guard.list({ cmd: 'list' }).rows] as Array<{ prefix: string }>;
    expect(listed.find((b) => b.prefix === '203.0.113.2')).toMatchObject({ until: now + 604_800_000, reason: 'import', origin: 'import' });
    expect(listed.find((b) => b.prefix === '203.0.113.1')).toMatchObject({ reason: 'from pbx2' });
  });

  it('unbans on every node of a fleet, or with --local on this one only, and says which', async () => {
    const everywhere: string[] = [];
    const link = { connected: true, pending: 0, stats: { published: 0, applied: 0, refused: 0, resyncs: 0, outboxDropped: 0 } };
    const { guard } = setup('{}', ':memory:', { node: 'pbx-a', link, unbanEverywhere: (prefix) => everywhere.push(prefix.text) });
    await guard.ban({ cmd: 'ban', prefix: p('203.0.113.9') });
    await guard.ban({ cmd: 'ban', prefix: p('203.0.113.10') });
    expect(await guard.unban({ cmd: 'unban', prefix: p('203.0.113.9') })).toMatchObject({ fleet: 'on every node of the fleet, but where an admin or an import banned it (unban it there)' });
    expect(await guard.unban({ cmd: 'unban', prefix: p('203.0.113.10'), local: true })).toMatchObject({ fleet: 'on pbx-a only' });
    expect(everywhere).toEqual(['203.0.113.9']);
    expect(guard.status({ cmd: 'status' }).fleet).toEqual({ node: 'pbx-a', connected: true, outbox: 0, published: 0, applied: 0, refused: 0 });
  });

  it('refuses ::ffff:0:0/96 even with --force: it is 0.0.0.0/0 (issue 24)', async () => {
    const { guard, changes } = setup();
    await expect(guard.ban({ cmd: 'ban', prefix: p('::ffff:0:0/96'), force: true })).rejects.toThrow(/0\.0\.0\.0\/0/);
    expect(changes).toEqual([]);
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
    expect([...guard.list({ cmd: 'list' }).rows]).toHaveLength(1);
  });

  it('answers truthfully while the store is locked: a ban is in force and says its record waits; an allow changes nothing and says so', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'ag-guard-')), 'state.db');
    const { guard, clock, store, persister, core } = setup('{}', file);
    const locker = new Database(file);
    locker.exec('BEGIN EXCLUSIVE');
    await guard.ban({ cmd: 'ban', prefix: p('203.0.113.5'), for: null });
    await clock.advance(0);
    const second = await guard.ban({ cmd: 'ban', prefix: p('203.0.113.6'), for: null });
    expect(second).toMatchObject({ prefix: '203.0.113.6', store_writes_pending: 2, store_note: expect.stringMatching(/in force in the kernel; the state database .* refuses writes, so its record is queued \(2 waiting\)/) });
    expect(guard.status({ cmd: 'status' })).toMatchObject({ active_bans: 2, store: { path: file, store_writes_pending: 2 } });
    let error: unknown;
    await guard.allow({ cmd: 'allow', prefix: p('198.51.100.9') }).catch((e: unknown) => (error = e));
    expect(isGuardError(error, 'AG_ERR_STORE_WRITE')).toBe(true);
    expect((error as Error).message).toMatch(/^nothing was changed: the state database .* refused the write/);
    expect(core.policy.neverBan.covers(p('198.51.100.9'))).toBe(false);
    locker.exec('COMMIT');
    locker.close();
    await clock.advance(100);
    expect(persister.pending).toBe(0);
    expect(store.activeBans(clock.now()).map((b) => b.prefix.text).sort()).toEqual(['203.0.113.5', '203.0.113.6']);
    expect(guard.status({ cmd: 'status' })).toMatchObject({ store: { path: file } });
    expect(guard.status({ cmd: 'status' }).store).not.toHaveProperty('store_note');
  });

  it('shows sieges in status and the range in why', async () => {
    const { guard, core, clock } = setup();
    for (let i = 1; i <= 10; i++) core.policy.handle(event('ChallengeResponseFailed', `198.18.${i}.1`, clock.now(), { AccountID: '1001' }));
    expect(guard.status({ cmd: 'status' }).sieges).toEqual([{ account: '1001', since: new Date(clock.now()).toISOString(), sources: 10, banned: 10, guesses: 0 }]);
    for (const ip of ['203.0.113.1', '203.0.113.2']) core.policy.handle(event('ChallengeResponseFailed', ip, clock.now(), { AccountID: '1002' }));
    const why = guard.why({ cmd: 'why', address: p('203.0.113.1') });
    expect(why.range).toMatchObject({ prefix: '203.0.113.0/24', banned_until: null, scores: { score: 2 } });
  });
});
