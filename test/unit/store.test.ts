import Database from 'better-sqlite3';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { prefix as p } from '../support/prefix.js';
import { Persister } from '../../src/store/persister.js';
import { Store } from '../../src/store/store.js';
import { ManualClock } from '../support/manual-clock.js';

const dir = () => mkdtempSync(path.join(tmpdir(), 'ag-store-'));

describe('Store', () => {
  it('creates the schema with a version, in WAL mode, and reopens it', () => {
    const file = path.join(dir(), 'state.db');
    const s = Store.open(file);
    expect(s.schemaVersion).toBe(1);
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

describe('Persister', () => {
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
