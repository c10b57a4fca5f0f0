import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { prefix as p } from '../support/prefix.js';
import { Persister } from '../../src/store/persister.js';
import { StoreKeeper } from '../../src/store/store-keeper.js';
import { Store } from '../../src/store/store.js';
import { ManualClock } from '../support/manual-clock.js';

const dir = () => mkdtempSync(path.join(tmpdir(), 'ag-store-'));

describe('Store', () => {
  it('migrates a store of version 1 (before fleet bans) keeping its bans, then takes fleet bans', () => {
    const file = path.join(dir(), 'state.db');
    const v1 = new Database(file);
    // Version 1's schema, as the stores written before issue 15 hold it.
    v1.exec(`CREATE TABLE bans (id INTEGER PRIMARY KEY, prefix TEXT NOT NULL, since INTEGER NOT NULL, until INTEGER, reason TEXT NOT NULL,
       origin TEXT NOT NULL CHECK (origin IN ('auto', 'cli', 'import')), step INTEGER NOT NULL DEFAULT 0, lifted INTEGER, evidence TEXT);
     CREATE INDEX bans_prefix ON bans (prefix, since);
     CREATE INDEX bans_active ON bans (lifted, until);
     CREATE TABLE offenses (source TEXT PRIMARY KEY, events TEXT NOT NULL, accounts TEXT NOT NULL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL);
     CREATE TABLE trust (source TEXT PRIMARY KEY, until INTEGER NOT NULL, account TEXT);
     CREATE TABLE allow (prefix TEXT PRIMARY KEY, added INTEGER NOT NULL);
     CREATE TABLE audit (id INTEGER PRIMARY KEY, time INTEGER NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT);
     CREATE INDEX audit_target ON audit (target, time);
     CREATE TABLE schema_version (version INTEGER NOT NULL);
     INSERT INTO schema_version VALUES (1);
     INSERT INTO bans (prefix, since, until, reason, origin, step) VALUES ('203.0.113.66', 1, 10000, 'brute-force', 'auto', 0);`);
    expect(() => v1.exec(`INSERT INTO bans (prefix, since, until, reason, origin) VALUES ('203.0.113.9', 1, 10000, 'x', 'fleet')`)).toThrow(/CHECK/);
    v1.close();
    const s = Store.open(file);
    expect(s.schemaVersion).toBe(5);
    expect(s.activeBans(5).map((b) => [b.prefix.text, b.origin])).toEqual([['203.0.113.66', 'auto']]);
    s.recordBan({ prefix: p('198.51.100.9'), since: 2, until: 10_000, reason: 'pbx-a: brute-force', origin: 'fleet', step: 0, evidence: null });
    expect(s.activeBans(5).map((b) => [b.prefix.text, b.origin]).sort()).toEqual([['198.51.100.9', 'fleet'], ['203.0.113.66', 'auto']]);
    s.close();
  });

  it('creates the schema with a version, in WAL mode, and reopens it', () => {
    const file = path.join(dir(), 'state.db');
    const s = Store.open(file);
    expect(s.schemaVersion).toBe(5);
    s.recordBan({ prefix: p('203.0.113.66'), since: 1, until: 10_000, reason: 'brute-force', origin: 'auto', step: 0, evidence: { events: { ChallengeResponseFailed: 5 } } });
    s.close();
    const again = Store.open(file);
    expect(again.activeBans(5).map((b) => [b.prefix.text, b.until, b.evidence])).toEqual([['203.0.113.66', 10_000, { events: { ChallengeResponseFailed: 5 } }]]);
    const raw = new Database(file);
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    raw.close();
    again.close();
  });

  it('refuses a corrupt database with a clear error and leaves the file alone', () => {
    const file = path.join(dir(), 'state.db');
    writeFileSync(file, 'this is not a database, but it is somebody’s file'.repeat(100));
    const before = readFileSync(file);
    expect(() => Store.open(file)).toThrow(/AG_ERR|cannot use the state database .*state\.db.*left as it is/);
    expect(readFileSync(file).equals(before)).toBe(true);
  });

  it('refuses a database from a newer asterisk-guard', () => {
    const file = path.join(dir(), 'state.db');
    Store.open(file).close();
    const raw = new Database(file);
    raw.prepare('UPDATE schema_version SET version = 99').run();
    raw.close();
    expect(() => Store.open(file)).toThrow(/schema version 99 is newer/);
  });

  it('keeps the longest active ban per prefix, lifts bans, and remembers history', () => {
    const s = Store.open(':memory:');
    s.recordBan({ prefix: p('203.0.113.1'), since: 0, until: 100, reason: 'a', origin: 'auto', step: 0, evidence: null });
    s.recordBan({ prefix: p('203.0.113.1'), since: 50, until: 500, reason: 'b', origin: 'auto', step: 1, evidence: null });
    s.recordBan({ prefix: p('203.0.113.2'), since: 0, until: null, reason: 'c', origin: 'cli', step: 0, evidence: null });
    s.recordBan({ prefix: p('203.0.113.3'), since: 0, until: 20, reason: 'd', origin: 'import', step: 0, evidence: null });
    expect(s.activeBans(60).map((b) => [b.prefix.text, b.until])).toEqual([['203.0.113.1', 500], ['203.0.113.2', null]]);
    expect(s.liftBan(p('203.0.113.2'), 70)).toBe(1);
    expect(s.activeBans(80).map((b) => b.prefix.text)).toEqual(['203.0.113.1']);
    expect(s.banHistory(0).get('203.0.113.1')).toEqual([0, 50]);
  });

  it('adds offenses up and keeps trust, allow entries and the audit trail', () => {
    const s = Store.open(':memory:');
    s.recordOffense('203.0.113.9', { ChallengeResponseFailed: 5 }, ['1001'], 10, 20);
    s.recordOffense('203.0.113.9', { ChallengeResponseFailed: 2, InvalidAccountID: 1 }, ['1002'], 5, 40);
    expect(s.offense('203.0.113.9')).toEqual({ events: { ChallengeResponseFailed: 7, InvalidAccountID: 1 }, accounts: ['1001', '1002'], firstSeen: 5, lastSeen: 40 });
    s.setTrust('198.51.100.10', 1000, '1002');
    expect(s.trusted(500)).toEqual([{ source: '198.51.100.10', until: 1000, account: '1002' }]);
    expect(s.trusted(1500)).toEqual([]);
    s.allow(p('198.51.100.0/24'), 1);
    expect(s.allowed().map((x) => x.text)).toEqual(['198.51.100.0/24']);
    expect(s.disallow(p('198.51.100.0/24'))).toBe(true);
    expect(s.disallow(p('198.51.100.0/24'))).toBe(false);
    s.audit({ time: 1, action: 'ban', target: '203.0.113.9', detail: { why: 'x' } });
    expect(s.auditOf('203.0.113.9')).toEqual([{ time: 1, action: 'ban', target: '203.0.113.9', detail: { why: 'x' } }]);
  });
});

describe('Store files', () => {
  it('creates the database and its -wal and -shm files 0600', () => {
    const file = path.join(dir(), 'state.db');
    const s = Store.open(file);
    s.recordBan({ prefix: p('203.0.113.66'), since: 1, until: null, reason: 'x', origin: 'auto', step: 0, evidence: null });
    for (const f of [file, `${file}-wal`, `${file}-shm`]) expect(statSync(f).mode & 0o777, f).toBe(0o600);
    s.close();
  });

  it('knows whether the last run closed it cleanly: only a clean close, and only once', () => {
    const file = path.join(dir(), 'state.db');
    const first = Store.open(file);
    expect(first.stoppedCleanly).toBe(false);
    first.close(true);
    const second = Store.open(file);
    expect(second.stoppedCleanly).toBe(true);
    // A run that dies here (or closes with writes still queued) leaves no mark behind.
    second.close(false);
    expect(Store.open(file).stoppedCleanly).toBe(false);
  });

  it('gives every record of a prefix, lifted or not, for the kernel bans a crash may have kept from it', () => {
    const s = Store.open(':memory:');
    s.recordBans([
      { prefix: p('203.0.113.66'), since: 1, until: 100, reason: 'x', origin: 'auto', step: 0, evidence: null },
      { prefix: p('203.0.113.66'), since: 200, until: null, reason: 'x', origin: 'auto', step: 1, evidence: null },
      { prefix: p('203.0.113.67'), since: 1, until: null, reason: 'x', origin: 'auto', step: 0, evidence: null },
    ]);
    s.liftBan(p('203.0.113.66'), 300);
    expect(s.banRows(p('203.0.113.66'))).toEqual([
      { until: 100, lifted: null },
      { until: null, lifted: 300 },
    ]);
    expect(s.banRows(p('198.51.100.1'))).toEqual([]);
    s.close();
  });

  it('reports a store the daemon may not write as AG_ERR_STORE_ACCESS, not as damage', () => {
    const d = dir();
    chmodSync(d, 0o755);
    const file = path.join(d, 'state.db');
    Store.open(file).close();
    chmodSync(file, 0o644);
    // As an unprivileged user (root may write anything): the file and its directory are root's.
    const script = `import('${new URL('../../dist/src/store/store.js', import.meta.url).pathname}').then((m) => m.Store.open('${file}')).catch((e) => { console.log(e.code + ': ' + e.message); })`;
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', script], { encoding: 'utf8' });
    expect(r.stdout).toMatch(/^AG_ERR_STORE_ACCESS: the state database .*state\.db cannot be written by this user \(uid 65534\): .*It is not damaged/);
  });

  function keeper(store: Store) {
    const said: string[] = [];
    const k = new StoreKeeper(store, {
      now: () => Date.UTC(2026, 10, 25),
      snapshot: () => ({ bans: [{ prefix: p('203.0.113.9'), since: 1, until: null, reason: 'from memory', origin: 'auto', step: 0, evidence: null }], trust: [{ source: '198.51.100.10', until: 2 ** 42, account: null }] }),
      onRecreated: (text) => said.push(text),
    });
    return { k, said };
  }

  it('recreates a store deleted under it from the copy still open: bans, history and allow-list kept', () => {
    const file = path.join(dir(), 'state.db');
    const store = Store.open(file);
    store.recordBan({ prefix: p('203.0.113.66'), since: 1, until: null, reason: 'brute-force', origin: 'auto', step: 0, evidence: null });
    store.allow(p('198.51.100.0/24'), 1);
    const { k, said } = keeper(store);
    k.check();
    expect(said).toEqual([]);
    for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
    k.check();
    expect(said).toEqual([expect.stringMatching(/state\.db was deleted while the daemon ran: recreated from the copy still open/)]);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    store.recordBan({ prefix: p('203.0.113.67'), since: 2, until: null, reason: 'brute-force', origin: 'auto', step: 0, evidence: null });
    store.close();
    const reopened = Store.open(file);
    expect(reopened.activeBans(3).map((b) => b.prefix.text)).toEqual(['203.0.113.66', '203.0.113.67']);
    expect(reopened.allowed().map((a) => a.text)).toEqual(['198.51.100.0/24']);
    reopened.close();
  });

  it('moves a file put in its place aside, never overwriting it', () => {
    const file = path.join(dir(), 'state.db');
    const store = Store.open(file);
    store.recordBan({ prefix: p('203.0.113.66'), since: 1, until: null, reason: 'brute-force', origin: 'auto', step: 0, evidence: null });
    rmSync(file);
    writeFileSync(file, randomBytes(8192));
    const theirs = readFileSync(file);
    const { k, said } = keeper(store);
    k.check();
    expect(said[0]).toMatch(/was replaced by another file .*; the other file was moved to .*state\.db\.replaced-2026-11-25T00-00-00-000Z/);
    expect(readFileSync(`${file}.replaced-2026-11-25T00-00-00-000Z`).equals(theirs)).toBe(true);
    expect(store.activeBans(2).map((b) => b.prefix.text)).toEqual(['203.0.113.66']);
    store.close();
  });

  it('recreates from memory a store overwritten in place with random bytes, on the write that finds it', () => {
    const file = path.join(dir(), 'state.db');
    const store = Store.open(file);
    store.recordBan({ prefix: p('203.0.113.66'), since: 1, until: null, reason: 'brute-force', origin: 'auto', step: 0, evidence: null });
    store.allow(p('198.51.100.0/24'), 1);
    store.close();
    const reopened = Store.open(file);
    // Same inode, new bytes: only a read or write can tell.
    writeFileSync(file, randomBytes(64 * 1024));
    for (const f of [`${file}-wal`, `${file}-shm`]) writeFileSync(f, randomBytes(4096));
    const { k, said } = keeper(reopened);
    let failure: unknown;
    try {
      reopened.transaction(() => reopened.recordBan({ prefix: p('203.0.113.70'), since: 3, until: null, reason: 'x', origin: 'auto', step: 0, evidence: null }));
    } catch (e) {
      failure = e;
    }
    expect(failure).toBeDefined();
    expect(k.recover(failure)).toBe(true);
    expect(said[0]).toMatch(/was damaged under the running daemon .*recreated from memory with 1 bans in force and 1 trusted sources/);
    expect(reopened.activeBans(3).map((b) => [b.prefix.text, b.reason])).toEqual([['203.0.113.9', 'from memory']]);
    expect(reopened.trusted(3).map((t) => t.source)).toEqual(['198.51.100.10']);
    expect(reopened.allowed().map((a) => a.text)).toEqual(['198.51.100.0/24']);
    expect(k.recover(new Error('database is locked'))).toBe(false);
    reopened.close();
  });
});

describe('Persister', () => {
  it('writes a wave in one transaction, and retries a refused batch whole', async () => {
    const file = path.join(dir(), 'state.db');
    const store = Store.open(file);
    const clock = new ManualClock();
    const persister = new Persister(pino({ level: 'silent' }), { clock, retryBaseMs: 10, retryMaxMs: 10, onFailing: () => {}, atomically: (w) => store.transaction(w) });
    let fail = true;
    for (let i = 0; i < 2500; i++) {
      persister.write(`ban ${i}`, () => {
        if (i === 1700 && fail) throw new Error('disk full');
        store.recordBan({ prefix: p(`198.18.${i >> 8}.${i & 255}`), since: 1, until: null, reason: 'x', origin: 'auto', step: 0, evidence: null });
      });
    }
    await clock.advance(0);
    // The first batch of 1000 went in; the second was refused whole (nothing of it half-written).
    expect(store.activeBans(2)).toHaveLength(1000);
    expect(persister.pending).toBe(1500);
    fail = false;
    await clock.advance(10);
    expect(persister.pending).toBe(0);
    expect(store.activeBans(2)).toHaveLength(2500);
    store.close();
  });

  it('retries a write the database refused (locked) until it lands, logging the error', async () => {
    const file = path.join(dir(), 'state.db');
    const store = Store.open(file);
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({}, new Writable({ write: (c, _e, done) => (lines.push(JSON.parse(String(c)) as Record<string, unknown>), done()) }));
    const locker = new Database(file);
    locker.exec('BEGIN EXCLUSIVE');
    const clock = new ManualClock();
    const failing: unknown[] = [];
    const persister = new Persister(log, { clock, retryBaseMs: 50, retryMaxMs: 200, onFailing: (e) => failing.push(e) });
    persister.write('ban 203.0.113.66', () => store.recordBan({ prefix: p('203.0.113.66'), since: 1, until: null, reason: 'x', origin: 'auto', step: 0, evidence: null }));
    await clock.advance(0);
    await clock.advance(50 + 100 + 200 + 200);
    expect(persister.failed).toBe(5);
    expect(failing).toHaveLength(1);
    expect(lines.map((l) => l['retry_in_ms'])).toEqual([50, 100, 200, 200, 200]);
    expect(lines[0]).toMatchObject({ code: 'AG_ERR_STORE_WRITE', what: 'ban 203.0.113.66' });
    expect(persister.pending).toBe(1);
    locker.exec('COMMIT');
    locker.close();
    await clock.advance(200);
    expect(persister.pending).toBe(0);
    expect(store.activeBans(2).map((b) => b.prefix.text)).toEqual(['203.0.113.66']);
    persister.stop();
    store.close();
  });
});

describe('Store.pruneStep: a PBX under attack for a year does not grow without end (issue 24)', () => {
  const DAY = 86_400_000;
  const keep = { lookbackMs: 30 * DAY, auditMs: 90 * DAY, baselines: 3 };
  const ban = (prefix: string, since: number, until: number | null, origin: 'auto' | 'fleet' | 'cli' = 'auto') => ({ prefix: p(prefix), since, until, reason: 'brute-force', origin, step: 0, evidence: null });
  const drain = (store: Store, now: number, batch = 1000) => {
    let total = 0;
    // Round the table twice: every row visited whatever the cursor's start.
    for (let i = 0, n = -1; i < 50 && n !== 0; i++) total += n = store.pruneStep(now, keep, batch) + store.pruneStep(now, keep, batch);
    return total;
  };

  it("forgets ended bans past the lookback, another node's ended bans at once, audit and offenses past the retention; keeps what is in force or still escalates", () => {
    const store = Store.open(':memory:');
    const now = 400 * DAY;
    store.recordBans([
      ban('203.0.113.1', now - 40 * DAY, now - 40 * DAY + 600_000), // ended, past the lookback: goes
      ban('203.0.113.2', now - 10 * DAY, now - 10 * DAY + 600_000), // ended, within the lookback: escalates, stays
      ban('203.0.113.3', now - 300 * DAY, null), // permanent: stays
      ban('203.0.113.4', now - 60_000, now - 1000, 'fleet'), // another node's, ended: goes
      ban('203.0.113.5', now - 60_000, now + 60_000, 'fleet'), // another node's, in force: stays
    ]);
    store.audit({ time: now - 100 * DAY, action: 'ban', target: '203.0.113.1', detail: {} });
    store.audit({ time: now - DAY, action: 'ban', target: '203.0.113.2', detail: {} });
    store.recordOffense('203.0.113.1', { InvalidPassword: 5 }, ['100'], now - 100 * DAY, now - 95 * DAY);
    store.recordOffense('203.0.113.2', { InvalidPassword: 5 }, ['100'], now - DAY, now - DAY);
    expect(drain(store, now)).toBe(4);
    expect(['203.0.113.1', '203.0.113.2', '203.0.113.3', '203.0.113.4', '203.0.113.5'].map((x) => store.bansOf(p(x)).length)).toEqual([0, 1, 1, 0, 1]);
    expect(store.auditOf('203.0.113.1')).toEqual([]);
    expect(store.auditOf('203.0.113.2')).toHaveLength(1);
    expect(store.offense('203.0.113.1')).toBeUndefined();
    expect(store.offense('203.0.113.2')).toBeDefined();
    expect(store.banHistory(now - 30 * DAY).size).toBe(1);
  });

  it('thousands of short fleet bans are forgotten in batches of a bounded size', () => {
    const store = Store.open(':memory:');
    const now = 400 * DAY;
    const bans = Array.from({ length: 30_000 }, (_, i) => ban(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, now - 10_000, now - 8000, 'fleet'));
    store.recordBans(bans);
    expect(store.pruneStep(now, keep, 1000)).toBe(1000);
    expect(drain(store, now, 5000)).toBe(29_000);
    expect(store.activeBans(now)).toEqual([]);
  });
});
