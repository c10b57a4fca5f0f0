import Database from 'better-sqlite3';
import { accessSync, chmodSync, closeSync, constants, existsSync, mkdirSync, openSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { GuardError } from '../errors.js';
import { parseIpPrefix, type IpPrefix } from '../net/ip-prefix.js';
import { parseBaseline, type Baseline } from '../fraud/baseline.js';
import type { FraudBlock, FraudDecisionRecord } from '../fraud/fraud-decision.js';

// SQLite persistence: bans (with their escalation step and evidence), offenses per source,
// trust, the admin's runtime allow-list, and an audit trail of every decision.

export type { BanOrigin } from '../policy/decision.js';
import type { BanOrigin } from '../policy/decision.js';

export interface StoredBan {
  readonly prefix: IpPrefix;
  readonly since: number;
  /** null: permanent. */
  readonly until: number | null;
  readonly reason: string;
  readonly origin: BanOrigin;
  readonly step: number;
  readonly evidence: unknown;
}

export interface AuditEntry {
  readonly time: number;
  readonly action: string;
  readonly target: string;
  readonly detail: unknown;
}

/** Schema migrations, in order; the version table says how many have run. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE bans (
     id INTEGER PRIMARY KEY,
     prefix TEXT NOT NULL,
     since INTEGER NOT NULL,
     until INTEGER,
     reason TEXT NOT NULL,
     origin TEXT NOT NULL CHECK (origin IN ('auto', 'cli', 'import')),
     step INTEGER NOT NULL DEFAULT 0,
     lifted INTEGER,
     evidence TEXT
   );
   CREATE INDEX bans_prefix ON bans (prefix, since);
   CREATE INDEX bans_active ON bans (lifted, until);
   CREATE TABLE offenses (
     source TEXT PRIMARY KEY,
     events TEXT NOT NULL,
     accounts TEXT NOT NULL,
     first_seen INTEGER NOT NULL,
     last_seen INTEGER NOT NULL
   );
   CREATE TABLE trust (source TEXT PRIMARY KEY, until INTEGER NOT NULL, account TEXT);
   CREATE TABLE allow (prefix TEXT PRIMARY KEY, added INTEGER NOT NULL);
   CREATE TABLE audit (id INTEGER PRIMARY KEY, time INTEGER NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT);
   CREATE INDEX audit_target ON audit (target, time);`,
  // Fleet bans (issue 15): a fourth origin. SQLite cannot change a CHECK in place.
  `CREATE TABLE bans_v2 (
     id INTEGER PRIMARY KEY,
     prefix TEXT NOT NULL,
     since INTEGER NOT NULL,
     until INTEGER,
     reason TEXT NOT NULL,
     origin TEXT NOT NULL CHECK (origin IN ('auto', 'cli', 'import', 'fleet')),
     step INTEGER NOT NULL DEFAULT 0,
     lifted INTEGER,
     evidence TEXT
   );
   INSERT INTO bans_v2 SELECT id, prefix, since, until, reason, origin, step, lifted, evidence FROM bans;
   DROP TABLE bans;
   ALTER TABLE bans_v2 RENAME TO bans;
   CREATE INDEX bans_prefix ON bans (prefix, since);
   CREATE INDEX bans_active ON bans (lifted, until);`,
  // Fleet mode: what this node decided while Redis was away, in order, until it is published.
  `CREATE TABLE fleet_outbox (id INTEGER PRIMARY KEY, entry TEXT NOT NULL);`,
  // The toll-fraud guard (issue 16): what is normal for each endpoint, and the endpoints blocked.
  `CREATE TABLE fraud_baselines (endpoint TEXT PRIMARY KEY, baseline TEXT NOT NULL, updated INTEGER NOT NULL);
   CREATE TABLE fraud_blocks (endpoint TEXT PRIMARY KEY, since INTEGER NOT NULL, decision TEXT NOT NULL);`,
  // Where each followed source stopped (issue 25: Asterisk's own log), kept across restarts.
  `CREATE TABLE cursors (name TEXT PRIMARY KEY, value TEXT NOT NULL, updated INTEGER NOT NULL);`,
];

function stoppedMark(file: string): string {
  return `${file}.stopped`;
}

/** Unlinks the file; false when there was none, or it could not go (then the start is taken for one after a crash: the safe side). */
function removed(file: string): boolean {
  try {
    unlinkSync(file);
    return true;
  } catch {
    return false;
  }
}

function prefixOf(text: string): IpPrefix {
  const p = parseIpPrefix(text);
  if (!p.ok) throw new GuardError('AG_ERR_STORE_CORRUPT', `the store holds a bad prefix ${JSON.stringify(text)}: ${p.reason}`);
  return p.value;
}

interface BanRow {
  prefix: string;
  since: number;
  until: number | null;
  reason: string;
  origin: BanOrigin;
  step: number;
  evidence: string | null;
}

function banOf(r: BanRow): StoredBan {
  return { prefix: prefixOf(r.prefix), since: r.since, until: r.until, reason: r.reason, origin: r.origin, step: r.step, evidence: r.evidence === null ? null : JSON.parse(r.evidence) };
}

/** What the daemon holds in memory, written into a store recreated over a damaged one. */
export interface StoreSnapshot {
  readonly bans: readonly StoredBan[];
  readonly trust: ReadonlyArray<{ source: string; until: number; account: string | null }>;
}

/** What happened to the file under a running store. */
export type StoreFileState = 'same' | 'deleted' | 'replaced';

export class Store {
  /** The runtime allow-list, kept in memory too: a damaged file must not take it along. */
  private allowCache: Map<string, IpPrefix>;
  private statements = new Map<string, Database.Statement>();
  private readonly pruneCursors = { bans: 0, offenses: 0 };

  private constructor(
    private db: Database.Database,
    readonly file: string,
    private identity: { dev: number; ino: number } | undefined,
    /** Created by this open (no file was there). */
    readonly created: boolean,
    /**
     * The last run closed it after writing everything it had: no decision can be missing. After a
     * crash (or a stop whose writes failed), the kernel may hold bans whose records were lost.
     */
    readonly stoppedCleanly: boolean,
  ) {
    this.allowCache = new Map(this.allowed().map((p) => [p.text, p]));
  }

  /**
   * Opens (creating if needed, mode 0600) and migrates. A file that is not a usable database is
   * an error, never replaced; a file the daemon may not write is an error of its own.
   */
  static open(file: string): Store {
    const memory = file === ':memory:';
    if (!memory) mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const existed = !memory && existsSync(file);
    if (!memory) checkAccess(file, existed);
    let db: Database.Database;
    try {
      // Created 0600 before SQLite opens it: its -wal and -shm files take the same mode.
      if (!memory && !existed) closeSync(openSync(file, 'a', 0o600));
      // A short busy wait: SQLite blocks the event loop meanwhile; the Persister retries later.
      db = new Database(file, { timeout: 20 });
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      // A bounded page cache, said once: better-sqlite3's default (16 MB) filled with the first
      // 50k bans and read as their cost (benchmark 7: 8 MB was 50 bytes a ban at 100k). Writes
      // append and the file stays in the kernel's page cache; 2 MB is plenty.
      db.pragma('cache_size = -2000');
      const check = db.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw new Error(`quick_check: ${String(check)}`);
      migrate(db);
    } catch (e) {
      const code = (e as { code?: string }).code ?? '';
      if (/^SQLITE_(READONLY|CANTOPEN|PERM|AUTH)/.test(code)) throw accessError(file, (e as Error).message, e);
      throw new GuardError(
        'AG_ERR_STORE_CORRUPT',
        `cannot use the state database ${file}${existed ? '' : ' (new)'}: ${(e as Error).message}. ` +
          'It was left as it is: move it aside to start with an empty state, or restore a backup.',
        { cause: e },
      );
    }
    // Taken away now, put back by a clean close: an unlink needs no room on a full disk, so a
    // run that dies is always seen as one.
    return new Store(db, file, memory ? undefined : fileIdentity(file), !existed && !memory, !memory && removed(stoppedMark(file)));
  }

  /** `clean`: every write reached the file (the next open trusts it to be complete). */
  close(clean = false): void {
    this.db.close();
    if (clean && this.file !== ':memory:') {
      try {
        writeFileSync(stoppedMark(this.file), '', { mode: 0o600 });
      } catch {
        // Without the mark the next start reads the kernel's bans: slower, nothing lost.
      }
    }
  }

  /** When each ban of the prefix in the store ends and whether it was lifted (for the kernel's bans at a start after a crash). */
  banRows(prefix: IpPrefix): Array<{ until: number | null; lifted: number | null }> {
    return this.sql('SELECT until, lifted FROM bans WHERE prefix = ?').all(prefix.text) as Array<{ until: number | null; lifted: number | null }>;
  }

  /** A prepared statement, made once: preparing one per write cost more than the write (benchmark 7). */
  private sql(text: string): Database.Statement {
    let statement = this.statements.get(text);
    if (!statement) this.statements.set(text, (statement = this.db.prepare(text)));
    return statement;
  }

  /** Runs the writes as one transaction. */
  transaction(writes: () => void): void {
    this.db.transaction(writes)();
  }

  /** Is the file at the store's path still the one open? (`rm state.db`, or a file put in its place) */
  fileState(): StoreFileState {
    if (this.identity === undefined) return 'same';
    const now = fileIdentity(this.file);
    if (now === undefined) return 'deleted';
    return now.dev === this.identity.dev && now.ino === this.identity.ino ? 'same' : 'replaced';
  }

  /**
   * The file under the running daemon went away, was replaced, or is damaged: a new database is
   * opened at the path (a file there is moved aside first, never overwritten). With `copy`, the
   * old one, still open, is copied whole into it (history and audit kept); else what the daemon
   * holds (`snapshot`) is written. Returns where the other file went, if there was one.
   */
  recreate(how: { copy: true } | { snapshot: StoreSnapshot }, now: number): string | undefined {
    let movedTo: string | undefined;
    if (existsSync(this.file)) {
      movedTo = `${this.file}.replaced-${new Date(now).toISOString().replace(/[:.]/g, '-')}`;
      renameSync(this.file, movedTo);
    }
    if ('copy' in how) {
      // VACUUM INTO writes a new file from the open (unlinked) database, consistent as of now.
      this.db.exec(`VACUUM INTO '${this.file.replaceAll("'", "''")}'`);
      chmodSync(this.file, 0o600);
    }
    const fresh = Store.open(this.file);
    const allowed = this.allowCache;
    this.db.close();
    this.db = fresh.db;
    this.statements = new Map();
    this.identity = fresh.identity;
    if ('snapshot' in how) {
      const { bans, trust } = how.snapshot;
      this.transaction(() => {
        for (const b of bans) this.recordBan(b);
        for (const t of trust) this.setTrust(t.source, t.until, t.account ?? undefined);
        for (const a of allowed.values()) this.allow(a, now);
      });
    }
    this.allowCache = new Map(this.allowed().map((p) => [p.text, p]));
    return movedTo;
  }

  get schemaVersion(): number {
    return (this.sql('SELECT version FROM schema_version').get() as { version: number }).version;
  }

  recordBan(ban: StoredBan): void {
    this.db
      .prepare('INSERT INTO bans (prefix, since, until, reason, origin, step, evidence) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(ban.prefix.text, ban.since, ban.until, ban.reason, ban.origin, ban.step, ban.evidence === null ? null : JSON.stringify(ban.evidence));
  }

  /** Many bans in one SQLite transaction (import, mass bans). */
  recordBans(bans: readonly StoredBan[]): void {
    this.db.transaction(() => {
      for (const b of bans) this.recordBan(b);
    })();
  }

  /** Ends every active ban of the prefix now; returns how many there were. */
  liftBan(prefix: IpPrefix, now: number): number {
    return this.sql('UPDATE bans SET lifted = ? WHERE prefix = ? AND lifted IS NULL AND (until IS NULL OR until > ?)').run(now, prefix.text, now).changes;
  }

  /** The bans in force at `now`, the longest one per prefix. */
  activeBans(now: number): StoredBan[] {
    const rows = this.db
      .prepare(
        `SELECT prefix, since, until, reason, origin, step, evidence FROM bans
         WHERE lifted IS NULL AND (until IS NULL OR until > ?) ORDER BY prefix, until IS NULL, until`,
      )
      .all(now) as BanRow[];
    const longest = new Map<string, BanRow>();
    for (const r of rows) longest.set(r.prefix, r);
    return [...longest.values()].map(banOf);
  }

  /** Ban start times per prefix since `since`: the escalation history. */
  banHistory(since: number): Map<string, number[]> {
    const out = new Map<string, number[]>();
    for (const r of this.sql("SELECT prefix, since FROM bans WHERE since >= ? AND origin != 'fleet' ORDER BY since").all(since) as Array<{ prefix: string; since: number }>) {
      const list = out.get(r.prefix) ?? [];
      list.push(r.since);
      out.set(r.prefix, list);
    }
    return out;
  }

  bansOf(prefix: IpPrefix): StoredBan[] {
    return (this.sql('SELECT prefix, since, until, reason, origin, step, evidence FROM bans WHERE prefix = ? ORDER BY since').all(prefix.text) as BanRow[]).map(banOf);
  }

  /**
   * One step of forgetting what nothing needs any more, `batch` rows per table at most, so a
   * step costs milliseconds whatever the file holds: ended bans once the lookback no longer
   * escalates on them (another node's at once: they leave no history here), audit entries and
   * offense totals past the audit retention, ended trust, the toll-fraud baselines of all but the
   * `baselines` most recently dialling endpoints. Bans are visited round the table from
   * a cursor; audit entries oldest first. Returns the rows deleted.
   */
  pruneStep(now: number, keep: { readonly lookbackMs: number; readonly auditMs: number; readonly baselines: number }, batch = 1000): number {
    return this.db.transaction(() => {
      let gone = 0;
      const bans = this.sql('SELECT MAX(id) AS last FROM (SELECT id FROM bans WHERE id > ? ORDER BY id LIMIT ?)').get(this.pruneCursors.bans, batch) as { last: number | null };
      if (bans.last === null) this.pruneCursors.bans = 0;
      else {
        gone += this.sql("DELETE FROM bans WHERE id > ? AND id <= ? AND (lifted IS NOT NULL OR (until IS NOT NULL AND until <= ?)) AND (origin = 'fleet' OR since < ?)").run(this.pruneCursors.bans, bans.last, now, now - keep.lookbackMs).changes;
        this.pruneCursors.bans = bans.last;
      }
      const offenses = this.sql('SELECT MAX(rowid) AS last FROM (SELECT rowid FROM offenses WHERE rowid > ? ORDER BY rowid LIMIT ?)').get(this.pruneCursors.offenses, batch) as { last: number | null };
      if (offenses.last === null) this.pruneCursors.offenses = 0;
      else {
        gone += this.sql('DELETE FROM offenses WHERE rowid > ? AND rowid <= ? AND last_seen < ?').run(this.pruneCursors.offenses, offenses.last, now - keep.auditMs).changes;
        this.pruneCursors.offenses = offenses.last;
      }
      gone += this.sql('DELETE FROM audit WHERE id IN (SELECT id FROM audit ORDER BY id LIMIT ?) AND time < ?').run(batch, now - keep.auditMs).changes;
      gone += this.sql('DELETE FROM trust WHERE rowid IN (SELECT rowid FROM trust WHERE until <= ? LIMIT ?)').run(now, batch).changes;
      gone += this.sql('DELETE FROM fraud_baselines WHERE rowid IN (SELECT rowid FROM fraud_baselines ORDER BY updated DESC LIMIT ? OFFSET ?)').run(batch, keep.baselines).changes;
      return gone;
    })();
  }

  /** Adds an offense's evidence to the source's running totals. */
  recordOffense(source: string, events: Readonly<Record<string, number>>, accounts: readonly string[], first: number, last: number): void {
    this.db.transaction(() => {
      const old = this.sql('SELECT events, accounts, first_seen, last_seen FROM offenses WHERE source = ?').get(source) as
        | { events: string; accounts: string; first_seen: number; last_seen: number }
        | undefined;
      const total: Record<string, number> = old ? (JSON.parse(old.events) as Record<string, number>) : {};
      for (const [k, n] of Object.entries(events)) total[k] = (total[k] ?? 0) + n;
      const allAccounts = [...new Set([...(old ? (JSON.parse(old.accounts) as string[]) : []), ...accounts])].slice(0, 64);
      this.db
        .prepare('INSERT OR REPLACE INTO offenses (source, events, accounts, first_seen, last_seen) VALUES (?, ?, ?, ?, ?)')
        .run(source, JSON.stringify(total), JSON.stringify(allAccounts), Math.min(first, old?.first_seen ?? first), Math.max(last, old?.last_seen ?? last));
    })();
  }

  offense(source: string): { events: Record<string, number>; accounts: string[]; firstSeen: number; lastSeen: number } | undefined {
    const r = this.sql('SELECT events, accounts, first_seen, last_seen FROM offenses WHERE source = ?').get(source) as
      | { events: string; accounts: string; first_seen: number; last_seen: number }
      | undefined;
    return r && { events: JSON.parse(r.events) as Record<string, number>, accounts: JSON.parse(r.accounts) as string[], firstSeen: r.first_seen, lastSeen: r.last_seen };
  }

  setTrust(source: string, until: number, account: string | undefined): void {
    this.sql('INSERT OR REPLACE INTO trust (source, until, account) VALUES (?, ?, ?)').run(source, until, account ?? null);
  }

  trusted(now: number): Array<{ source: string; until: number; account: string | null }> {
    return this.sql('SELECT source, until, account FROM trust WHERE until > ?').all(now) as Array<{ source: string; until: number; account: string | null }>;
  }

  allow(prefix: IpPrefix, now: number): void {
    this.sql('INSERT OR IGNORE INTO allow (prefix, added) VALUES (?, ?)').run(prefix.text, now);
    this.allowCache.set(prefix.text, prefix);
  }

  disallow(prefix: IpPrefix): boolean {
    const gone = this.sql('DELETE FROM allow WHERE prefix = ?').run(prefix.text).changes > 0;
    this.allowCache.delete(prefix.text);
    return gone;
  }

  allowed(): IpPrefix[] {
    return (this.sql('SELECT prefix FROM allow ORDER BY prefix').all() as Array<{ prefix: string }>).map((r) => prefixOf(r.prefix));
  }

  /** Fleet mode: decisions kept for Redis (their stream fields), in one transaction; beyond `max`, the oldest go. Returns how many went. */
  outboxPush(entries: ReadonlyArray<Readonly<Record<string, string>>>, max: number): number {
    const insert = this.sql('INSERT INTO fleet_outbox (entry) VALUES (?)');
    return this.db.transaction(() => {
      for (const e of entries) insert.run(JSON.stringify(e));
      return this.sql('DELETE FROM fleet_outbox WHERE id <= (SELECT MAX(id) FROM fleet_outbox) - ?').run(max).changes;
    })();
  }

  /** The oldest decisions kept for Redis, first first. */
  outboxFirst(limit: number): Array<{ id: number; fields: Record<string, string> }> {
    return (this.sql('SELECT id, entry FROM fleet_outbox ORDER BY id LIMIT ?').all(limit) as Array<{ id: number; entry: string }>).map((r) => ({ id: r.id, fields: JSON.parse(r.entry) as Record<string, string> }));
  }

  /** Redis has every kept decision up to `id`. */
  outboxDropThrough(id: number): void {
    this.sql('DELETE FROM fleet_outbox WHERE id <= ?').run(id);
  }

  get outboxSize(): number {
    return (this.sql('SELECT COUNT(*) AS n FROM fleet_outbox').get() as { n: number }).n;
  }

  saveBaselines(baselines: ReadonlyMap<string, Baseline>, now: number): void {
    const put = this.sql('INSERT OR REPLACE INTO fraud_baselines (endpoint, baseline, updated) VALUES (?, ?, ?)');
    for (const [endpoint, b] of baselines) put.run(endpoint, JSON.stringify(b), now);
  }

  /** The `limit` most recently updated baselines, least recent first; a damaged row is left out (that endpoint learns again) and named. */
  baselines(limit: number): { baselines: Map<string, Baseline>; damaged: string[] } {
    const baselines = new Map<string, Baseline>();
    const damaged: string[] = [];
    for (const r of this.sql('SELECT endpoint, baseline FROM (SELECT endpoint, baseline, updated FROM fraud_baselines ORDER BY updated DESC LIMIT ?) ORDER BY updated').all(limit) as Array<{ endpoint: string; baseline: string }>) {
      const b = parseBaseline(r.baseline);
      if (b) baselines.set(r.endpoint, b);
      else damaged.push(r.endpoint);
    }
    return { baselines, damaged };
  }

  recordFraudBlock(block: FraudBlock): void {
    this.sql('INSERT OR REPLACE INTO fraud_blocks (endpoint, since, decision) VALUES (?, ?, ?)').run(block.endpoint, block.since, JSON.stringify(block.decision));
  }

  fraudBlocks(): FraudBlock[] {
    return (this.sql('SELECT endpoint, since, decision FROM fraud_blocks').all() as Array<{ endpoint: string; since: number; decision: string }>).map((r) => ({ endpoint: r.endpoint, since: r.since, decision: JSON.parse(r.decision) as FraudDecisionRecord }));
  }

  clearFraudBlock(endpoint: string): boolean {
    return this.sql('DELETE FROM fraud_blocks WHERE endpoint = ?').run(endpoint).changes > 0;
  }

  /** A followed source's position (`log:/var/log/asterisk/messages.log`), as its follower wrote it. */
  cursor(name: string): string | undefined {
    return (this.sql('SELECT value FROM cursors WHERE name = ?').get(name) as { value: string } | undefined)?.value;
  }

  setCursor(name: string, value: string, now: number): void {
    this.sql('INSERT INTO cursors (name, value, updated) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated = excluded.updated').run(name, value, now);
  }

  audit(entry: AuditEntry): void {
    this.sql('INSERT INTO audit (time, action, target, detail) VALUES (?, ?, ?, ?)').run(entry.time, entry.action, entry.target, JSON.stringify(entry.detail));
  }

  auditOf(target: string, limit = 50): AuditEntry[] {
    return (this.sql('SELECT time, action, target, detail FROM audit WHERE target = ? ORDER BY time DESC, id DESC LIMIT ?').all(target, limit) as Array<{ time: number; action: string; target: string; detail: string }>).map((r) => ({
      ...r,
      detail: JSON.parse(r.detail) as unknown,
    }));
  }
}

function fileIdentity(file: string): { dev: number; ino: number } | undefined {
  try {
    const st = statSync(file);
    return { dev: st.dev, ino: st.ino };
  } catch {
    return undefined;
  }
}

function accessError(file: string, detail: string, cause?: unknown): GuardError {
  return new GuardError(
    'AG_ERR_STORE_ACCESS',
    `the state database ${file} cannot be written by this user (uid ${process.getuid?.() ?? '?'}): ${detail}. ` +
      'It is not damaged: give the daemon write access to it and its directory (SQLite writes -wal and -shm files beside it), or set store.path elsewhere.',
    { cause },
  );
}

/** The file and its directory must be writable (the directory for the -wal and -shm files). */
function checkAccess(file: string, existed: boolean): void {
  try {
    accessSync(path.dirname(file), constants.W_OK | constants.X_OK);
    if (existed) accessSync(file, constants.R_OK | constants.W_OK);
  } catch (e) {
    throw accessError(file, (e as Error).message, e);
  }
}

function migrate(db: Database.Database): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
  const row = db.prepare('SELECT version FROM schema_version').get() as { version: number } | undefined;
  const version = row?.version ?? 0;
  if (version > MIGRATIONS.length) {
    throw new Error(`schema version ${version} is newer than this asterisk-guard knows (${MIGRATIONS.length}): upgrade asterisk-guard`);
  }
  db.transaction(() => {
    for (let v = version; v < MIGRATIONS.length; v++) db.exec(MIGRATIONS[v]!);
    if (row) db.prepare('UPDATE schema_version SET version = ?').run(MIGRATIONS.length);
    else db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(MIGRATIONS.length);
  })();
}
