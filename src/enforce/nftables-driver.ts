import { contains, isSingleAddress, parseIpPrefix, widen, type IpPrefix } from '../net/ip-prefix.js';
import { commandFailure, type CommandResult, type CommandRunner } from './command-runner.js';
import type { Ban, FirewallDriver } from './firewall-driver.js';
import { NftSession } from './nft-session.js';
import { elementStatements, FAMILIES, initScript, replaceSetStatements, setName, timeoutText, type ElementChange, type NftNames } from './nft-script.js';

const RESTORE_RETRY_MS = 500;

interface Held {
  readonly prefix: IpPrefix;
  readonly until: number | null;
}

/**
 * Owns one nft table (`inet asterisk_guard` by default) and nothing else. Keeps a mirror of the
 * elements it put in the sets so a ban that extends an existing one, or covers smaller ones,
 * is written without an overlap error; the mirror is re-read from the kernel when a
 * transaction fails, and the transaction retried once.
 *
 * An interval set cannot hold a prefix inside another, so a ban inside a wider element (or
 * swallowed by a new wider one) is kept aside as superseded, and put back in the kernel when
 * the wider element is unbanned or expires: no ban is ever lost to an overlap.
 */
export class NftablesDriver implements FirewallDriver {
  readonly name = 'nftables';
  private readonly held = new Map<string, Held>();
  /** How many held elements have each prefix length: lets the overlap checks skip scans. */
  private readonly lengths = new Map<number, number>();
  /** Bans not in the kernel because a wider element covers them (see the class comment). */
  private readonly superseded = new Map<string, Held>();
  private restoreTimer: NodeJS.Timeout | undefined;

  private readonly session: NftSession;

  constructor(
    private readonly runner: CommandRunner,
    private readonly names: NftNames,
  ) {
    this.session = new NftSession(runner);
  }

  async init(): Promise<void> {
    await this.nft(['-f', '-'], initScript(this.names));
    // Start the long-lived nft now: the first ban must not pay for its start (~25 ms).
    await this.session.apply([`add table inet ${this.names.table}`]);
  }

  async ban(bans: readonly Ban[], now: number): Promise<void> {
    if (bans.length === 0) return;
    const changes = this.plan(bans, now);
    if (changes.length === 0) return this.scheduleRestore();
    try {
      await this.session.apply(elementStatements(this.names, changes, now));
    } catch (firstError) {
      // Someone (an admin, an expiry racing us) changed the sets: re-read them and retry once.
      await this.resync(now);
      const retry = this.plan(bans, now);
      if (retry.length === 0) return this.scheduleRestore();
      await this.session.apply(elementStatements(this.names, retry, now)).catch((e: unknown) => {
        throw new AggregateError([firstError, e], (e as Error).message);
      });
      this.commit(retry);
      return this.scheduleRestore();
    }
    this.commit(changes);
    this.scheduleRestore();
  }

  async unban(prefixes: readonly IpPrefix[]): Promise<void> {
    const changes: ElementChange[] = [];
    for (const p of prefixes) {
      this.superseded.delete(p.text);
      if (this.held.has(p.text)) changes.push({ op: 'delete', prefix: p });
    }
    if (changes.length > 0) {
      await this.session.apply(elementStatements(this.names, changes, 0));
      this.commit(changes);
    }
    await this.restore(Date.now());
  }

  async reconcile(bans: readonly Ban[], now: number): Promise<void> {
    const { kept: live, covered } = withoutCovered(bans.filter((b) => b.until === null || b.until > now));
    const statements: string[] = [];
    for (const f of FAMILIES) {
      const elements = live.filter((b) => b.prefix.family === f).map((b) => b.prefix.text + (b.until === null ? '' : ` timeout ${timeoutText(b.until - now)}`));
      statements.push(...replaceSetStatements(this.names, 'banned', f, elements));
    }
    await this.session.apply(statements);
    this.held.clear();
    this.lengths.clear();
    this.superseded.clear();
    for (const b of live) this.hold(b);
    for (const b of covered) this.superseded.set(b.prefix.text, b);
    this.scheduleRestore();
  }

  async setAllowed(prefixes: readonly IpPrefix[]): Promise<void> {
    const widest = withoutCovered(prefixes.map((prefix) => ({ prefix, until: null }))).kept;
    const statements: string[] = [];
    for (const f of FAMILIES) {
      statements.push(...replaceSetStatements(this.names, 'allowed', f, widest.filter((b) => b.prefix.family === f).map((b) => b.prefix.text)));
    }
    await this.session.apply(statements);
  }

  async list(now: number): Promise<Ban[]> {
    await this.resync(now);
    return [...this.held.values()];
  }

  async flushConnections(prefix: IpPrefix): Promise<void> {
    const family = prefix.family === 4 ? 'ipv4' : 'ipv6';
    // conntrack 1.4.7 takes CIDR for --orig-src but not for --reply-dst, so a subnet ban flushes
    // the flows it originated; the reply direction differs from it only behind SNAT.
    const directions = isSingleAddress(prefix) ? ['--orig-src', '--reply-dst'] : ['--orig-src'];
    await Promise.all(
      directions.map(async (direction) => {
        const args = ['-D', '-f', family, direction, prefix.text];
        const result = await this.runner.run('conntrack', args);
        if (conntrackDeleted(result)) return;
        throw commandFailure('conntrack', args, result);
      }),
    );
  }

  /** Ends the long-lived nft process and the restore timer (bans stay in the kernel). */
  close(): void {
    clearTimeout(this.restoreTimer);
    this.session.close();
  }

  async destroy(): Promise<void> {
    this.session.close();
    const result = await this.runner.run('nft', ['list', 'table', 'inet', this.names.table]);
    if (result.exitCode !== 0) return;
    await this.nft(['delete', 'table', 'inet', this.names.table]);
    this.held.clear();
    this.lengths.clear();
  }

  private plan(bans: readonly Ban[], now: number): ElementChange[] {
    this.expire(now);
    const adds = new Map<string, Ban>();
    for (const ban of bans) {
      const earlier = adds.get(ban.prefix.text);
      if (earlier && outlasts(earlier.until, ban.until)) continue;
      const held = this.held.get(ban.prefix.text);
      if (held && outlasts(held.until, ban.until)) continue;
      if (this.coveringWider(ban.prefix)) {
        this.keepAside(ban);
        continue;
      }
      adds.set(ban.prefix.text, ban);
    }
    const changes: ElementChange[] = [];
    for (const ban of adds.values()) {
      // Held elements inside a new ban (the same prefix with a shorter time, or narrower ones)
      // are deleted in the same transaction: nft refuses overlapping intervals.
      for (const inside of this.heldInside(ban.prefix)) changes.push({ op: 'delete', prefix: inside });
      changes.push({ op: 'add', prefix: ban.prefix, until: ban.until });
    }
    return changes;
  }

  /** The held element strictly wider than `prefix` that contains it, if any. */
  private coveringWider(prefix: IpPrefix): Held | undefined {
    for (const length of this.lengths.keys()) {
      if (length >= prefix.length) continue;
      const wider = this.held.get(widen(prefix, length).text);
      if (wider && wider.prefix.family === prefix.family) return wider;
    }
    return undefined;
  }

  private keepAside(ban: Held): void {
    const old = this.superseded.get(ban.prefix.text);
    if (!old || !outlasts(old.until, ban.until)) this.superseded.set(ban.prefix.text, ban);
  }

  /** Puts superseded bans back once nothing wider covers them; the widest go first. */
  private async restore(now: number): Promise<void> {
    for (const [k, h] of this.superseded) if (h.until !== null && h.until <= now) this.superseded.delete(k);
    this.expire(now);
    const free = [...this.superseded.values()].filter((h) => !this.coveringWider(h.prefix));
    if (free.length > 0) {
      const { kept } = withoutCovered(free);
      const changes: ElementChange[] = kept.map((h) => ({ op: 'add', prefix: h.prefix, until: h.until }));
      await this.session.apply(elementStatements(this.names, changes, now));
      for (const h of kept) this.superseded.delete(h.prefix.text);
      this.commit(changes);
    }
    this.scheduleRestore();
  }

  /** Wakes up when the first wider element that covers a superseded ban expires. */
  private scheduleRestore(): void {
    clearTimeout(this.restoreTimer);
    this.restoreTimer = undefined;
    let first = Infinity;
    for (const h of this.superseded.values()) {
      const cover = this.coveringWider(h.prefix);
      if (cover?.until != null) first = Math.min(first, cover.until);
    }
    if (first === Infinity) return;
    this.restoreTimer = setTimeout(() => void this.restoreOrRetry(), Math.max(0, first - Date.now()) + 100);
    this.restoreTimer.unref();
  }

  /** The kernel may still hold an expired interval for a moment (until its garbage collection),
   *  and refuse the narrower one as overlapping: re-read the sets and try again shortly. */
  private async restoreOrRetry(): Promise<void> {
    try {
      await this.restore(Date.now());
    } catch {
      await this.resync(Date.now()).catch(() => undefined);
      this.restoreTimer = setTimeout(() => void this.restoreOrRetry(), RESTORE_RETRY_MS);
      this.restoreTimer.unref();
    }
  }

  private heldInside(prefix: IpPrefix): IpPrefix[] {
    const same = this.held.get(prefix.text);
    const out = same ? [same.prefix] : [];
    // Only a wider ban over narrower elements needs the scan: rare (subnet bans), so linear.
    let narrower = false;
    for (const length of this.lengths.keys()) if (length > prefix.length) narrower = true;
    if (!narrower) return out;
    for (const h of this.held.values()) {
      if (h.prefix.length > prefix.length && contains(prefix, h.prefix)) out.push(h.prefix);
    }
    return out;
  }

  private commit(changes: readonly ElementChange[]): void {
    const adds = changes.filter((c) => c.op === 'add');
    for (const c of changes) {
      if (c.op !== 'delete') continue;
      const swallowed = this.held.get(c.prefix.text);
      if (swallowed && adds.some((a) => a.prefix.length < c.prefix.length && contains(a.prefix, c.prefix))) this.keepAside(swallowed);
      this.forget(c.prefix.text);
    }
    for (const c of changes) if (c.op === 'add') this.hold({ prefix: c.prefix, until: c.until });
  }

  private expire(now: number): void {
    for (const [k, h] of this.held) if (h.until !== null && h.until <= now) this.forget(k);
  }

  private hold(h: Held): void {
    this.forget(h.prefix.text);
    this.held.set(h.prefix.text, h);
    this.lengths.set(h.prefix.length, (this.lengths.get(h.prefix.length) ?? 0) + 1);
  }

  private forget(text: string): void {
    const h = this.held.get(text);
    if (!h) return;
    this.held.delete(text);
    const n = (this.lengths.get(h.prefix.length) ?? 1) - 1;
    if (n === 0) this.lengths.delete(h.prefix.length);
    else this.lengths.set(h.prefix.length, n);
  }

  private async resync(now: number): Promise<void> {
    this.held.clear();
    this.lengths.clear();
    for (const f of FAMILIES) {
      const args = ['-j', 'list', 'set', 'inet', this.names.table, setName(f)];
      const out = await this.nft(args);
      for (const ban of parseSetJson(out, now)) this.hold(ban);
    }
  }

  private async nft(args: readonly string[], input?: string): Promise<string> {
    const result = await this.runner.run('nft', args, input);
    if (result.exitCode !== 0) throw commandFailure('nft', args, result);
    return result.stdout;
  }
}

/**
 * Did `conntrack -D` leave no matching entry? It exits 1 when nothing matched, and when the
 * other direction's run (they go in parallel) deleted the entry between its listing and its
 * delete: both mean the flows are gone.
 */
export function conntrackDeleted(result: CommandResult): boolean {
  return result.exitCode === 0 || /0 flow entries have been deleted|such conntrack doesn't exist/.test(result.stderr);
}

/** Splits a list into the prefixes no other one covers and the covered ones (nft refuses
 *  overlapping intervals). */
function withoutCovered<T extends { prefix: IpPrefix }>(items: readonly T[]): { kept: T[]; covered: T[] } {
  const byLength = [...items].sort((a, b) => a.prefix.length - b.prefix.length);
  // Kept prefixes per family and length, so "is it covered" is one lookup per length in use.
  const index = new Map<string, Set<string>>();
  const kept: T[] = [];
  const covered: T[] = [];
  for (const item of byLength) {
    let hidden = false;
    for (const [k, texts] of index) {
      const [family, length] = k.split('/').map(Number);
      if (family === item.prefix.family && length! <= item.prefix.length && texts.has(widen(item.prefix, length!).text)) hidden = true;
    }
    if (hidden) {
      covered.push(item);
      continue;
    }
    const k = `${item.prefix.family}/${item.prefix.length}`;
    const texts = index.get(k) ?? new Set<string>();
    texts.add(item.prefix.text);
    index.set(k, texts);
    kept.push(item);
  }
  return { kept, covered };
}

function outlasts(a: number | null, b: number | null): boolean {
  return a === null || (b !== null && a >= b);
}

interface NftJsonElem {
  elem?: { val: unknown; timeout?: number; expires?: number };
}

function valText(val: unknown): string | undefined {
  if (typeof val === 'string') return val;
  const p = (val as { prefix?: { addr?: unknown; len?: unknown } } | null)?.prefix;
  if (p && typeof p.addr === 'string' && typeof p.len === 'number') return `${p.addr}/${p.len}`;
  return undefined;
}

/** Reads `nft -j list set` output into bans; elements we can't parse are left out. */
export function parseSetJson(json: string, now: number): Ban[] {
  const doc = JSON.parse(json) as { nftables?: Array<{ set?: { elem?: unknown[] } }> };
  const out: Ban[] = [];
  for (const item of doc.nftables ?? []) {
    for (const e of item.set?.elem ?? []) {
      const wrapped = (e as NftJsonElem).elem;
      const text = valText(wrapped ? wrapped.val : e);
      const parsed = text === undefined ? undefined : parseIpPrefix(text);
      if (!parsed?.ok) continue;
      const expires = wrapped?.expires;
      out.push({ prefix: parsed.value, until: typeof expires === 'number' ? now + expires * 1000 : null });
    }
  }
  return out;
}
