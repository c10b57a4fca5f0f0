import type { Scoreboard } from '../detect/scoreboard.js';
import type { Enforcer } from '../enforce/enforcer.js';
import { storeNote as storeWritesNote } from '../parts/store-part.js';
import { GuardError } from '../errors.js';
import { describeRefusal, isRefusal, type ActiveBan, type BanLedger } from '../ledger/ban-ledger.js';
import type { IpPrefix } from '../net/ip-prefix.js';
import type { Pipeline } from '../pipeline.js';
import { fraudRecord } from '../fraud/fraud-decision.js';
import type { FraudEndpointStatus, FraudGuard } from '../fraud/fraud-guard.js';
import type { AdminChannel, BanRequest } from '../policy/decision.js';
import type { Policy } from '../policy/policy.js';
import type { Store } from '../store/store.js';
import type { Clock } from '../time/clock.js';
import { RowStream, type Request } from './protocol.js';

export interface GuardDeps {
  readonly ledger: BanLedger;
  readonly policy: Policy;
  readonly scoreboard: Scoreboard;
  readonly enforcer: Enforcer;
  readonly store: Store;
  readonly pipeline: Pipeline;
  readonly clock: Clock;
  /** The parts' sections of `status` (src/parts: each part says what it is doing). */
  readonly status: () => Readonly<Record<string, unknown>>;
  /** Fleet mode: this node's name and how an admin's unban reaches every node (none without a `fleet:` section). */
  readonly fleet?:
    | {
        readonly node: string;
        readonly unbanEverywhere: (prefix: IpPrefix) => void;
      }
    | undefined;
  /** The toll-fraud guard (none without a `fraud:` section), and how a block is lifted in Asterisk. */
  readonly tollFraud?:
    | {
        readonly guard: FraudGuard;
        /** Deletes the endpoint's AstDB key; says what happened (AMI may be away). */
        readonly unblockInAsterisk: (endpoint: string) => Promise<string>;
      }
    | undefined;
  /** Both allow-lists (the config's and the runtime one) into the kernel. */
  readonly syncAllowed: () => Promise<void>;
  /** The feeds that list an address (feeds part); none without feeds. */
  readonly listedBy?: (ip: IpPrefix) => ReadonlyArray<{ readonly feed: string; readonly entry: string }>;
  /** A one-time login URL for the web page (web part); none while `web.enabled` is false. */
  readonly webLogin?: (() => string) | undefined;
  /** The store's write queue: what an answer says when the record of a change waits. */
  readonly storeWrites: () => { readonly failing: boolean; readonly pending: number };
}

type Args<C extends Request['cmd']> = Extract<Request, { cmd: C }>;

const iso = (t: number | null | undefined) => (t === null || t === undefined ? null : new Date(t).toISOString());
const notFound = (message: string) => new GuardError('AG_ERR_CONTROL_REQUEST', message);
const row = (b: ActiveBan) => ({ prefix: b.prefix.text, since: b.since, until: b.until, reason: b.reason, origin: b.origin, step: b.step });

/**
 * What an admin can ask of the running guard, one method per admin-socket command (the
 * socket maps requests to these one to one). Every ban and unban goes through the ban
 * ledger, like the policy's own: the same never-ban lists, ladder, kernel path and audit.
 */
export class Guard {
  constructor(
    private readonly d: GuardDeps,
    /** Where its admin sits: every change it makes is audited with it. */
    readonly channel: AdminChannel = 'cli',
  ) {}

  /** The same facade, for changes made elsewhere (the web page). */
  for(channel: AdminChannel): Guard {
    return new Guard(this.d, channel);
  }

  /** What an audit entry adds for a change not made on the CLI (whose entries stay as they were). */
  private get viaField(): { via?: AdminChannel } {
    return this.channel === 'cli' ? {} : { via: this.channel };
  }

  status(_: Args<'status'>) {
    return this.d.status();
  }

  /** Streamed: a million bans are sent a chunk at a time, never held as one answer. */
  list(_: Args<'list'>) {
    return new RowStream(map(this.d.ledger.bans(this.d.clock.now()), row));
  }

  export(_: Args<'export'>) {
    return this.list({ cmd: 'list' });
  }

  async ban(r: Args<'ban'>) {
    const decision = this.request({ target: r.prefix, time: this.d.clock.now(), reason: 'manual', origin: 'cli', ...this.viaField, durationMs: r.for, note: r.reason, force: r.force === true });
    if (isRefusal(decision)) throw new GuardError('AG_ERR_CONTROL_REQUEST', `${describeRefusal(decision)}${decision.refused === 'spared' ? '; disallow it first if you mean it' : ''}`);
    await this.d.enforcer.drain();
    return { prefix: r.prefix.text, until: decision.durationMs === null ? null : decision.time + decision.durationMs, step: decision.step, ...storeNote(this.d) };
  }

  async unban(r: Args<'unban'>) {
    if (!this.d.ledger.lift(r.prefix, this.d.clock.now(), 'cli', this.viaField.via)) throw notFound(`${r.prefix.text} is not banned`);
    const fleet = this.d.fleet;
    if (fleet && r.local !== true) fleet.unbanEverywhere(r.prefix);
    await this.d.enforcer.drain({ flushes: false });
    return { prefix: r.prefix.text, lifted: 1, ...(fleet ? { fleet: r.local === true ? `on ${fleet.node} only` : 'on every node of the fleet, but where an admin or an import banned it (unban it there)' } : {}), ...storeNote(this.d) };
  }

  why(r: Args<'why'>) {
    const d = this.d;
    const now = d.clock.now();
    const key = d.policy.keyOf(r.address);
    const prefixes = key.text === r.address.text ? [key] : [r.address, key];
    const until = d.ledger.bannedUntil(key, now);
    return {
      address: r.address.text,
      scored_as: key.text,
      spared: d.policy.neverBan.why(r.address) ?? null,
      listed_by: d.listedBy?.(r.address) ?? [],
      trusted_until: iso(d.policy.trust.trustedUntil(key, now)),
      banned_until: untilText(until),
      scores: d.scoreboard.scores(key, now) ?? null,
      range: { prefix: d.policy.rangeOf(key).text, banned_until: untilText(d.ledger.bannedUntil(d.policy.rangeOf(key), now)), scores: d.policy.ranges.scores(d.policy.rangeOf(key), now) ?? null },
      offenses: d.store.offense(key.text) ?? null,
      bans: prefixes.flatMap((p) => d.store.bansOf(p)).map((b) => ({ prefix: b.prefix.text, since: iso(b.since), until: iso(b.until), reason: b.reason, origin: b.origin, step: b.step })),
      decisions: prefixes.flatMap((p) => d.store.auditOf(p.text)),
    };
  }

  // The runtime allow-list lives in the store: it is written (with its audit entry, in one
  // transaction) before anything else changes, so a refused write changes nothing and says so.
  async allow(r: Args<'allow'>) {
    const now = this.d.clock.now();
    storeFirst(this.d, () => {
      this.d.store.allow(r.prefix, now);
      this.d.store.audit({ time: now, action: 'allow', target: r.prefix.text, detail: { origin: 'cli', ...this.viaField } });
    });
    this.d.policy.neverBan.allow(r.prefix);
    await this.d.syncAllowed();
    return { prefix: r.prefix.text };
  }

  async disallow(r: Args<'disallow'>) {
    const now = this.d.clock.now();
    let removed = false;
    storeFirst(this.d, () => {
      removed = this.d.store.disallow(r.prefix);
      if (removed) this.d.store.audit({ time: now, action: 'disallow', target: r.prefix.text, detail: { origin: 'cli', ...this.viaField } });
    });
    if (!removed) throw notFound(`${r.prefix.text} is not on the runtime allow-list (entries of the config file are changed there)`);
    this.d.policy.neverBan.disallow(r.prefix);
    await this.d.syncAllowed();
    return { prefix: r.prefix.text };
  }

  /** Bans what an export lists, through the ledger; expired, spared and already-banned ones are skipped. */
  async import(r: Args<'import'>) {
    const now = this.d.clock.now();
    let imported = 0;
    for (const b of r.bans) {
      if (b.until !== null && b.until <= now) continue;
      const decision = this.request({ target: b.prefix, time: now, reason: 'import', origin: 'import', durationMs: b.until === null ? null : b.until - now, note: b.reason });
      if (!isRefusal(decision)) imported++;
    }
    // The kernel has them when this returns; their conntrack flushes go on behind.
    await this.d.enforcer.drain({ flushes: false });
    return { imported, skipped: r.bans.length - imported, ...storeNote(this.d) };
  }

  'web-url'(_: Args<'web-url'>) {
    if (this.channel !== 'cli') throw new GuardError('AG_ERR_CONTROL_REQUEST', 'a login URL is made on the PBX: asterisk-guard web-url');
    if (!this.d.webLogin) throw new GuardError('AG_ERR_CONTROL_REQUEST', 'the web page is off: set web.enabled: true in the config (docs/web.md) and restart');
    return { url: this.d.webLogin() };
  }

  async fraud(r: Args<'fraud'>) {
    const f = this.d.tollFraud;
    if (!f) throw new GuardError('AG_ERR_CONTROL_REQUEST', 'the toll-fraud guard is off: add a fraud: section to the config (docs/fraud.md) and restart');
    const now = this.d.clock.now();
    const endpoint = r.endpoint ?? '';
    if (r.action === 'list') return { endpoints: f.guard.list(now).map((s) => fraudRow(s)) };
    const status = f.guard.status(endpoint, now);
    if (r.action === 'why') {
      if (!status) throw notFound(`endpoint ${endpoint} is not known to the toll-fraud guard (no call of it seen)`);
      return { ...fraudRow(status), baseline: f.guard.baseline(endpoint) ?? null, decisions: f.guard.decisions(endpoint).map(fraudRecord), audit: this.d.store.auditOf(endpoint, 20) };
    }
    if (!f.guard.isBlocked(endpoint)) throw notFound(`endpoint ${endpoint} is not blocked`);
    storeFirst(this.d, () => {
      this.d.store.clearFraudBlock(endpoint);
      this.d.store.audit({ time: now, action: 'fraud:clear', target: endpoint, detail: { origin: 'cli', ...this.viaField } });
    });
    f.guard.clear(endpoint);
    return { endpoint, cleared: true, asterisk: await f.unblockInAsterisk(endpoint) };
  }

  private request(r: BanRequest) {
    const decision = this.d.ledger.request(r);
    // A banned source's score starts from nothing when its ban ends.
    if (!isRefusal(decision)) this.d.scoreboard.forget(r.target);
    return decision;
  }
}

function fraudRow(s: FraudEndpointStatus) {
  return {
    endpoint: s.endpoint,
    blocked: s.blocked ? { since: iso(s.blocked.since), why: s.blocked.decision.text, calls_cut_since: s.cutWhileBlocked } : null,
    calls: s.calls,
    learning: !s.learned,
    countries: s.countries,
    calls_up: s.active,
    last: s.last ? { verdict: s.last.verdict, time: iso(s.last.time), text: s.last.text } : null,
  };
}

/** Said with every change while the store refuses writes: the kernel has it, its record waits. */
function storeNote(d: GuardDeps) {
  return storeWritesNote(d.store, d.storeWrites());
}

/** Store writes an answer depends on: all of them or none, and a refusal says nothing changed. */
function storeFirst(d: GuardDeps, writes: () => void): void {
  try {
    d.store.transaction(writes);
  } catch (e) {
    throw new GuardError('AG_ERR_STORE_WRITE', `nothing was changed: the state database ${d.store.file} refused the write (${(e as Error).message}); try again when it is free`);
  }
}

/** A ban's end for an admin: null when not banned. */
function untilText(until: number | undefined): string | null {
  return until === undefined ? null : until === Infinity ? 'permanent' : iso(until);
}

function* map<T, U>(items: Iterable<T>, f: (t: T) => U): IterableIterator<U> {
  for (const t of items) yield f(t);
}

/** The admin socket's handler: each request to the facade method of the same name. */
export function guardHandler(guard: Guard): (r: Request) => Promise<unknown> {
  return async (r) => {
    const method = guard[r.cmd] as (r: Request) => unknown;
    return method.call(guard, r);
  };
}
