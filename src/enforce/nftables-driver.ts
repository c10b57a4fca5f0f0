import { contains, parseIpPrefix, shapeOfText, type IpPrefix, type PrefixText } from '../net/ip-prefix.js';
import { commandFailure, type CommandResult, type CommandRunner } from './command-runner.js';
import type { Ban, FirewallDriver, FlowDirection, KernelBan } from './firewall-driver.js';
import { NftSession } from './nft-session.js';
import {
  allowedSetName,
  BASE_SETS,
  bannedSetName,
  bannedSetStatements,
  elementStatements,
  ELEMENT_MARK,
  elementText,
  FAMILIES,
  initScript,
  listedSetName,
  listedSetStatements,
  parseBannedSetName,
  parseListedSetName,
  replaceSetStatements,
  setKeyOf,
  type ElementChange,
  type NftNames,
  type SetKey,
} from './nft-script.js';


/**
 * Owns one nft table (`inet asterisk_guard` by default) and nothing else: hash sets of banned
 * addresses per family and prefix length (see nft-script.ts), interval sets of allowed ones.
 * Keeps no copy of the elements (a million bans would cost as much here as in the ledger): a
 * ban the ledger says may replace an element is written as add, delete, add with its timeout
 * (an add alone leaves a present element's timeout as it is). When a transaction fails, the
 * sets are re-read from the kernel and it is retried once.
 */
export class NftablesDriver implements FirewallDriver {
  readonly name = 'nftables';
  /** Banned sets (by name) the kernel has, with their drop rules. */
  private readonly sets = new Map<string, SetKey>();
  /** Feed sets (by name) the kernel has, with their drop rules. */
  private readonly listed = new Map<string, SetKey>();
  /** What the feed sets hold, as last put there (the caller's array, kept: no copy). */
  private listedNow: readonly PrefixText[] = [];
  private readonly session: NftSession;

  constructor(
    private readonly runner: CommandRunner,
    private readonly names: NftNames,
    /**
     * Sets made at init beside the base ones: the lengths the policy bans ranges at. The first
     * ban of a new length also creates its set and rule, which took 14.6 ms instead of ~1 ms
     * when a swarm's /24 was banned in the lab, with 2,000 guesses a second arriving meanwhile.
     */
    private readonly ready: readonly SetKey[] = [],
  ) {
    this.session = new NftSession(runner);
  }

  async init(): Promise<void> {
    const { sets, legacy, listed } = await this.existingSets();
    for (const key of [...BASE_SETS, ...this.ready]) sets.set(bannedSetName(key), key);
    await this.nft(['-f', '-'], initScript(this.names, [...sets.values()], legacy, [...listed.values()]));
    replaceMap(this.sets, sets);
    replaceMap(this.listed, listed);
    // Start the long-lived nft now: the first ban must not pay for its start (~25 ms).
    await this.session.apply([`add table inet ${this.names.table}`]);
  }

  async ban(bans: readonly Ban[], now: number): Promise<void> {
    if (bans.length === 0) return;
    const changes = plan(bans, now);
    if (changes.length === 0) return;
    try {
      await this.apply(changes, now);
    } catch (firstError) {
      // Someone (an admin, a firewall reload) changed our sets: re-read them and retry once.
      await this.relearnSets();
      await this.apply(changes, now).catch((e: unknown) => {
        throw new AggregateError([firstError, e], (e as Error).message);
      });
    }
  }

  async unban(prefixes: readonly IpPrefix[]): Promise<void> {
    // A length with no set has nothing in the kernel (and naming the set would fail the
    // transaction: found by the restart property test).
    const held = prefixes.filter((p) => this.sets.has(bannedSetName(setKeyOf(p))));
    if (held.length > 0) await this.apply(held.map((prefix) => ({ op: 'delete', prefix })), 0);
  }

  async reconcile(bans: readonly Ban[], now: number): Promise<void> {
    const live = new Map<string, Ban>();
    for (const b of bans) {
      if (b.until !== null && b.until <= now) continue;
      const other = live.get(b.prefix.text);
      if (!other || !outlasts(other.until, b.until)) live.set(b.prefix.text, b);
    }
    const adds: ElementChange[] = [...live.values()].map((b) => ({ op: 'add', prefix: b.prefix, until: b.until, replaces: false }));
    await this.session.apply([
      ...this.newSetStatements(adds.map((c) => c.prefix)),
      ...[...this.sets.keys()].flatMap((name) => replaceSetStatements(this.names, name, [])),
      ...elementStatements(this.names, adds, now),
    ]);
    this.learnSets(live.values());
  }

  async setAllowed(prefixes: readonly IpPrefix[]): Promise<void> {
    await this.session.apply(allowedStatements(this.names, prefixes));
  }

  async setListed(prefixes: readonly PrefixText[]): Promise<void> {
    const delta = listedStatements(this.names, this.listed, prefixes, this.listedNow);
    // A delta deletes what the sets held; one missing (someone deleted it) fails the whole
    // transaction, which changes nothing: then every set is replaced.
    const done = delta.partial && (await this.runner.run('nft', ['-f', '-'], delta.script)).exitCode === 0;
    const statements = done ? delta : listedStatements(this.names, this.listed, prefixes);
    if (!done) await this.nft(['-f', '-'], statements.script);
    replaceMap(this.listed, statements.sets);
    this.listedNow = prefixes;
  }

  async inspect(): Promise<string | undefined> {
    const result = await this.runner.run('nft', ['-t', '-j', 'list', 'table', 'inet', this.names.table]);
    if (result.exitCode !== 0) return `table inet ${this.names.table} is gone`;
    const doc = JSON.parse(result.stdout) as { nftables?: Array<{ chain?: { name?: string; hook?: string }; set?: { name?: string }; rule?: { chain?: string } }> };
    const items = doc.nftables ?? [];
    const sets = new Set(items.flatMap((i) => (i.set?.name ? [i.set.name] : [])));
    if (!items.some((i) => i.chain?.name === 'prerouting' && i.chain.hook === 'prerouting')) return `chain prerouting of table inet ${this.names.table} is gone`;
    for (const name of [...FAMILIES.map(allowedSetName), ...this.sets.keys(), ...this.listed.keys()]) if (!sets.has(name)) return `set ${name} of table inet ${this.names.table} is gone`;
    // Two allow rules and one drop rule per banned or feed set.
    const rules = items.filter((i) => i.rule?.chain === 'prerouting').length;
    const expected = FAMILIES.length + this.sets.size + this.listed.size;
    return rules < expected ? `${expected - rules} of the ${expected} rules of table inet ${this.names.table} are gone` : undefined;
  }

  async rebuild(bans: readonly Ban[], allowed: readonly IpPrefix[], now: number, listed: readonly PrefixText[] = []): Promise<void> {
    const live = bans.filter((b) => b.until === null || b.until > now);
    const keys = new Map<string, SetKey>([...BASE_SETS, ...this.ready].map((k) => [bannedSetName(k), k]));
    for (const b of live) keys.set(bannedSetName(setKeyOf(b.prefix)), setKeyOf(b.prefix));
    const feeds = listedStatements(this.names, new Map(), listed);
    // One `nft -f` script: the table as init makes it, every set emptied and filled.
    const statements = [
      ...initScript(this.names, [...keys.values()], []).trimEnd().split('\n'),
      ...[...keys.keys()].map((name) => `flush set inet ${this.names.table} ${name}`),
      ...elementStatements(this.names, live.map((b) => ({ op: 'add', prefix: b.prefix, until: b.until, replaces: false })), now),
      ...allowedStatements(this.names, allowed),
      feeds.script.trimEnd(),
    ];
    await this.nft(['-f', '-'], statements.join('\n') + '\n');
    replaceMap(this.sets, keys);
    replaceMap(this.listed, feeds.sets);
    this.listedNow = listed;
  }

  /** What the kernel holds, read from it. */
  async list(now: number): Promise<KernelBan[]> {
    await this.relearnSets();
    const bans: KernelBan[] = [];
    for (const [name, key] of this.sets) bans.push(...parseSetJson(await this.nft(['-j', 'list', 'set', 'inet', this.names.table, name]), key, now));
    return bans;
  }

  async flushConnections(prefix: IpPrefix, direction: FlowDirection, signal?: AbortSignal): Promise<void> {
    // Both options take a CIDR. Each delete is one dump of the kernel's whole conntrack table
    // (about 10 ms with 262,144 buckets, whatever the namespace holds), so the enforcer asks
    // for the attack's own flows first, alone: two dumps side by side took twice as long.
    const args = ['-D', '-f', prefix.family === 4 ? 'ipv4' : 'ipv6', direction === 'from' ? '--orig-src' : '--orig-dst', prefix.text];
    const result = await this.runner.run('conntrack', args, undefined, signal, true);
    if (!conntrackDeleted(result)) throw commandFailure('conntrack', args, result);
  }

  /** Ends the long-lived nft process (bans stay in the kernel). */
  close(): void {
    this.session.close();
  }

  /** Removes our table; false when there was none. */
  async destroy(): Promise<boolean> {
    this.session.close();
    const result = await this.runner.run('nft', ['-t', 'list', 'table', 'inet', this.names.table]);
    if (result.exitCode !== 0) return false;
    await this.nft(['delete', 'table', 'inet', this.names.table]);
    this.sets.clear();
    return true;
  }

  /** Applies element changes, with the sets and rules of prefix lengths new to the kernel. */
  private async apply(changes: readonly ElementChange[], now: number): Promise<void> {
    const adds = changes.flatMap((c) => (c.op === 'add' ? [c] : []));
    await this.session.apply([...this.newSetStatements(adds.map((c) => c.prefix)), ...elementStatements(this.names, changes, now)]);
    this.learnSets(adds);
  }

  private newSetStatements(prefixes: Iterable<IpPrefix>): string[] {
    const fresh = new Map<string, SetKey>();
    for (const p of prefixes) {
      const key = setKeyOf(p);
      const name = bannedSetName(key);
      if (!this.sets.has(name)) fresh.set(name, key);
    }
    return [...fresh.values()].flatMap((key) => bannedSetStatements(this.names, key));
  }

  private learnSets(items: Iterable<{ prefix: IpPrefix }>): void {
    for (const { prefix } of items) {
      const key = setKeyOf(prefix);
      this.sets.set(bannedSetName(key), key);
    }
  }

  /** Our table's banned and feed sets (names only, no elements), and sets of an older layout. */
  private async existingSets(): Promise<{ sets: Map<string, SetKey>; listed: Map<string, SetKey>; legacy: string[] }> {
    const sets = new Map<string, SetKey>();
    const listed = new Map<string, SetKey>();
    const legacy: string[] = [];
    const result = await this.runner.run('nft', ['-t', '-j', 'list', 'table', 'inet', this.names.table]);
    if (result.exitCode !== 0) return { sets, listed, legacy };
    const doc = JSON.parse(result.stdout) as { nftables?: Array<{ set?: { name?: unknown } }> };
    for (const item of doc.nftables ?? []) {
      const name = item.set?.name;
      if (typeof name !== 'string') continue;
      const key = parseBannedSetName(name);
      const feed = parseListedSetName(name);
      if (key) sets.set(name, key);
      else if (feed) listed.set(name, feed);
      else if (name === 'banned_v4' || name === 'banned_v6') legacy.push(name);
    }
    return { sets, listed, legacy };
  }

  private async relearnSets(): Promise<void> {
    const { sets, listed } = await this.existingSets();
    replaceMap(this.sets, sets);
    replaceMap(this.listed, listed);
  }

  private async nft(args: readonly string[], input?: string): Promise<string> {
    const result = await this.runner.run('nft', args, input);
    if (result.exitCode !== 0) throw commandFailure('nft', args, result);
    return result.stdout;
  }
}

/**
 * The feed sets brought to `prefixes` in one transaction, so no listed source passes at any
 * moment of a refresh: given what they hold (`before`), only the difference (a refresh of a
 * 100k list with 1% changed: 2,000 elements, not 100k); without it, every feed set flushed and
 * filled. Sets new lengths need are made with their rules; sets a length no longer needs stay,
 * empty (their rule matches nothing).
 */
function listedStatements(names: NftNames, have: ReadonlyMap<string, SetKey>, prefixes: readonly PrefixText[], before?: readonly PrefixText[]): { script: string; sets: Map<string, SetKey>; partial: boolean } {
  const t = `inet ${names.table}`;
  const sets = new Map(have);
  const lines: string[] = [];
  const partial = before !== undefined && before.length > 0;
  const old = partial ? new Set(before) : new Set<PrefixText>();
  const now = new Set(prefixes);
  const bySet = (list: Iterable<PrefixText>, keep: (p: PrefixText) => boolean) => {
    const by = new Map<string, string[]>();
    for (const p of list) {
      if (!keep(p)) continue;
      const key = shapeOfText(p);
      const name = listedSetName(key);
      if (!sets.has(name)) {
        sets.set(name, key);
        lines.push(...listedSetStatements(names, key));
      }
      const items = by.get(name) ?? [];
      items.push(elementText(p));
      by.set(name, items);
    }
    return by;
  };
  // nft reads a statement of any length, but one of 100k elements is a 2 MB line: chunks.
  const write = (verb: 'add' | 'delete', by: Map<string, string[]>) => {
    for (const [name, items] of by) for (let i = 0; i < items.length; i += 10_000) lines.push(`${verb} element ${t} ${name} { ${items.slice(i, i + 10_000).join(', ')} }`);
  };
  const added = bySet(now, (p) => !old.has(p));
  if (partial) write('delete', bySet(old, (p) => !now.has(p)));
  else for (const name of sets.keys()) lines.push(`flush set ${t} ${name}`);
  write('add', added);
  return { script: lines.join('\n') + '\n', sets, partial };
}

function replaceMap<K, V>(target: Map<K, V>, from: ReadonlyMap<K, V>): void {
  target.clear();
  for (const [k, v] of from) target.set(k, v);
}

/** Both allowed sets replaced: an interval set refuses overlapping elements, so the widest of any that overlap is kept. */
function allowedStatements(names: NftNames, prefixes: readonly IpPrefix[]): string[] {
  const widest = prefixes.filter((p) => !prefixes.some((q) => q.length < p.length && contains(q, p)));
  const unique = [...new Map(widest.map((p) => [p.text, p])).values()];
  return FAMILIES.flatMap((f) => replaceSetStatements(names, allowedSetName(f), unique.filter((p) => p.family === f).map((p) => p.text)));
}

/**
 * Did `conntrack -D` leave no matching entry? It exits 1 when nothing matched, and when an
 * entry went (it expired, or another delete took it) between its listing and its delete: both
 * mean the flows are gone.
 */
export function conntrackDeleted(result: CommandResult): boolean {
  return result.exitCode === 0 || /0 flow entries have been deleted|such conntrack doesn't exist/.test(result.stderr);
}

/** One change per prefix, the longest ban of the batch, timed-out ones left out. */
function plan(bans: readonly Ban[], now: number): ElementChange[] {
  const adds = new Map<string, Ban>();
  for (const ban of bans) {
    if (ban.until !== null && ban.until <= now) continue;
    const earlier = adds.get(ban.prefix.text);
    if (earlier && outlasts(earlier.until, ban.until)) continue;
    // One add per prefix goes out: it replaces an element if either ban of the batch would have.
    adds.set(ban.prefix.text, earlier?.replaces ? { ...ban, replaces: true } : ban);
  }
  return [...adds.values()].map((b) => ({ op: 'add', prefix: b.prefix, until: b.until, replaces: b.replaces === true }));
}

function outlasts(a: number | null, b: number | null): boolean {
  return a === null || (b !== null && a >= b);
}

interface NftJsonElem {
  elem?: { val: unknown; timeout?: number; expires?: number; comment?: unknown };
}

/** Reads `nft -j list set` output of one banned set into bans; elements we can't parse are left out. */
export function parseSetJson(json: string, key: SetKey, now: number): KernelBan[] {
  const doc = JSON.parse(json) as { nftables?: Array<{ set?: { elem?: unknown[] } }> };
  const out: KernelBan[] = [];
  for (const item of doc.nftables ?? []) {
    for (const e of item.set?.elem ?? []) {
      const wrapped = (e as NftJsonElem).elem;
      const val = wrapped ? wrapped.val : e;
      if (typeof val !== 'string') continue;
      const parsed = parseIpPrefix(`${val}/${key.length}`);
      if (!parsed.ok || parsed.value.family !== key.family || elementText(parsed.value) !== val) continue;
      const { expires, timeout } = wrapped ?? {};
      const until = typeof expires === 'number' ? now + expires * 1000 : null;
      const added = until !== null && typeof timeout === 'number' ? until - timeout * 1000 : null;
      out.push({ prefix: parsed.value, until, ours: wrapped?.comment === ELEMENT_MARK, added });
    }
  }
  return out;
}
