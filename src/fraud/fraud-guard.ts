import type { DialEvent, CallEvent } from '../calls/call-event.js';
import type { ChannelListing } from '../calls/channel-listing.js';
import { scoringKey } from '../detect/scoreboard.js';
import type { SecurityEvent } from '../events/security-event.js';
import type { BanLedger } from '../ledger/ban-ledger.js';
import type { IpPrefix } from '../net/ip-prefix.js';
import { emptyBaseline, learnCall, learnSource, type Baseline } from './baseline.js';
import { DestinationReader, type Destination } from './destination.js';
import { MAX_ENDPOINTS, strongest, type FraudConfig, type FraudVerdict } from './fraud-config.js';
import { fraudRecord, type FraudBlock, type FraudDecision, type FraudHit } from './fraud-decision.js';
import { FRAUD_RULES, type DialContext } from './rules.js';

// Bounds: endpoints are a PBX's own (hundreds), calls up are fewer; these only stop a
// misbehaving peer from growing the maps without end.
/** Oldest endpoints looked at for one that never got a call through, before the oldest goes. */
const EVICTION_LOOK = 64;
const MAX_CALLS = 100_000;
const MAX_ACCOUNTS = 100_000;
/** An authentication this close before a dial is the dial's own (the INVITE's). */
const AUTH_BEFORE_DIAL_MS = 10_000;
/** A call still up after this long lost its Hangup (an AMI reconnect): forgotten. */
const LOST_CALL_MS = 12 * 3_600_000;
/** Dial times kept per endpoint (the last hour's): more than any per-hour limit needs. */
const MAX_DIALS = 1000;
const DECISIONS_KEPT = 5;

interface ActiveCall {
  readonly endpoint: string;
  readonly number: string;
  readonly dialled: number;
  answered: number | undefined;
}

interface EndpointState {
  baseline: Baseline;
  active: number;
  /** Dial times within the last hour, oldest first. */
  dials: number[];
  /** Short calls in a row to one number. */
  run: { number: string; count: number; since: number } | undefined;
  /** The last decisions about it, newest last (for `fraud why`). */
  decisions: FraudDecision[];
}

/** What `fraud list` shows of one endpoint. */
export interface FraudEndpointStatus {
  readonly endpoint: string;
  readonly calls: number;
  readonly learned: boolean;
  readonly countries: Readonly<Record<string, number>>;
  readonly active: number;
  readonly blocked: FraudBlock | undefined;
  /** Calls cut since the block. */
  readonly cutWhileBlocked: number;
  readonly last: FraudDecision | undefined;
}

/**
 * The toll-fraud guard: judges each call as it is dialled against what is normal for its
 * endpoint, and learns from the calls it lets through. Pure: no I/O, no clock (time comes with
 * the events); bans go to the ban ledger like every other ban, the rest is the decision's.
 */
export class FraudGuard {
  private readonly endpoints = new Map<string, EndpointState>();
  private readonly calls = new Map<string, ActiveCall>();
  /** Calls it cut (uniqueid -> when), until their end is seen: a DialBegin or listing after the cut is not a new call. */
  private readonly cut = new Map<string, number>();
  private readonly lastAuth = new Map<string, { source: IpPrefix; time: number }>();
  private readonly failures = new Map<string, { count: number; since: number }>();
  private readonly blocks = new Map<string, FraudBlock>();
  /** Calls cut per blocked endpoint since its block (in memory: a count, not a row per call). */
  private readonly cutWhileBlocked = new Map<string, number>();
  private readonly reader: DestinationReader;
  private readonly ignored: Set<string>;
  /** Endpoints pjsip.conf identifies by address: trunks, whose calls are inbound. */
  private trunks: ReadonlySet<string> = new Set();
  /** Endpoints whose baseline changed since `takeChanged`. */
  private readonly changed = new Set<string>();
  /** Calls judged since start, by verdict (status, metrics). */
  readonly verdicts: Record<FraudVerdict, number> = { alert: 0, hangup: 0, block: 0 };

  constructor(
    private config: FraudConfig,
    private readonly ledger: BanLedger,
  ) {
    this.reader = new DestinationReader(config.plan);
    this.ignored = new Set(config.ignore);
  }

  /** A call event: a decision when a dialled call is judged fraud (alert, cut or block). */
  handleCall(e: CallEvent): FraudDecision | undefined {
    if (e.kind === 'dial') return this.dial(e);
    if (e.kind === 'hangup') this.cut.delete(e.uniqueid);
    const call = this.calls.get(e.uniqueid);
    if (!call) return undefined;
    if (e.kind === 'answer') {
      call.answered ??= e.time;
      return undefined;
    }
    this.calls.delete(e.uniqueid);
    const state = this.endpoints.get(call.endpoint);
    if (state) this.ended(state, call, e.time);
    return undefined;
  }

  /**
   * Security events tell who authenticated from where, and which accounts are being guessed.
   * `counted`: the scoring policy counted this failure (see Policy.lastFailureCounted).
   */
  noteSecurity(e: SecurityEvent, counted: boolean): void {
    const account = e.account;
    if (account === undefined) return;
    if (e.kind === 'SuccessfulAuth') {
      bounded(this.lastAuth, account, { source: e.remote.ip, time: e.time }, MAX_ACCOUNTS);
      const state = this.endpoints.get(account);
      if (state && state.baseline.sources[e.remote.ip.text] === undefined) {
        learnSource(state.baseline, e.remote.ip.text, e.time);
        this.changed.add(account);
      }
    } else if (counted && (e.kind === 'ChallengeResponseFailed' || e.kind === 'InvalidPassword')) {
      const f = this.failures.get(account);
      if (f && e.time - f.since <= this.config.rules.newSource.windowMs) f.count++;
      else bounded(this.failures, account, { count: 1, since: e.time }, MAX_ACCOUNTS);
    }
  }

  /**
   * What Asterisk's channel list says (fraud-part's poll): a caller in Dial that no DialBegin
   * told of is judged as one, an answer seen is noted, and a call counted up that is no longer
   * listed has ended. Calls dialled after the list was asked for may be missing from it: kept.
   */
  reconcile(listing: ChannelListing): FraudDecision[] {
    const decisions: FraudDecision[] = [];
    for (const { dial, answered } of listing.dials) {
      const d = this.handleCall(dial);
      if (d) decisions.push(d);
      if (answered) this.handleCall({ kind: 'answer', uniqueid: dial.uniqueid, time: listing.time });
    }
    for (const [id, call] of this.calls) {
      if (call.dialled < listing.askedAt && !listing.uniqueids.has(id)) this.handleCall({ kind: 'hangup', uniqueid: id, time: listing.time });
    }
    for (const [id, at] of this.cut) if (at < listing.askedAt && !listing.uniqueids.has(id)) this.cut.delete(id);
    return decisions;
  }

  private dial(e: DialEvent): FraudDecision | undefined {
    if (this.ignored.has(e.endpoint) || this.trunks.has(e.endpoint) || this.cut.has(e.uniqueid)) return undefined;
    // One Dial ringing several phones or trunks: a DialBegin each, one call.
    const known = this.calls.get(e.uniqueid);
    if (known?.number === e.number) return undefined;
    const destination = this.reader.read(e.number);
    // An internal call (an extension, voicemail, a feature code) costs nothing.
    if (!destination) return undefined;
    const state = this.state(e.endpoint, e.time);
    const auth = this.lastAuth.get(e.endpoint);
    const source = auth && e.time - auth.time <= AUTH_BEFORE_DIAL_MS ? auth.source : undefined;
    const firstSeen = source ? state.baseline.sources[source.text] : undefined;
    const sourceIsNew = source !== undefined && (firstSeen === undefined || e.time - firstSeen < this.config.newSourceMs);
    while (state.dials.length > 0 && e.time - state.dials[0]! >= 3_600_000) state.dials.shift();
    // The dials up to this one's time: a call the channel list found may be older than the last.
    let upTo = state.dials.length;
    while (upTo > 0 && state.dials[upTo - 1]! > e.time) upTo--;
    let lastMinute = 0;
    for (let i = upTo - 1; i >= 0 && e.time - state.dials[i]! < 60_000; i--) lastMinute++;
    const run = state.run && state.run.number === e.number && e.time - state.run.since <= this.config.rules.shortCalls.windowMs ? state.run.count : 0;
    const fail = this.failures.get(e.endpoint);
    const { learning } = this.config;
    const ctx: DialContext = {
      endpoint: e.endpoint,
      number: e.number,
      destination,
      time: e.time,
      baseline: state.baseline,
      learned: state.baseline.calls >= learning.calls && e.time - state.baseline.since >= learning.periodMs,
      concurrent: state.active + 1,
      perMinute: lastMinute + 1,
      perHour: upTo + 1,
      shortRun: run,
      source: source?.text,
      sourceIsNew,
      sourceFirstSeen: firstSeen,
      accountFailures: fail && e.time - fail.since <= this.config.rules.newSource.windowMs ? fail.count : 0,
      failuresSince: fail?.since ?? e.time,
    };
    const hits: FraudHit[] = [];
    const block = this.blocks.get(e.endpoint);
    if (block) hits.push({ rule: 'blocked', action: 'block', why: `blocked since ${new Date(block.since).toISOString()} (${block.decision.hits.map((h) => h.rule).join(', ')})` });
    for (const rule of FRAUD_RULES) {
      const action = rule.action(this.config);
      if (action === 'off') continue;
      const why = rule.check(ctx, this.config);
      if (why !== undefined) hits.push({ rule: rule.name, action, why });
    }
    state.dials.splice(upTo, 0, e.time);
    if (state.dials.length > MAX_DIALS) state.dials.shift();
    let verdict: FraudVerdict | undefined;
    for (const h of hits) verdict = verdict ? strongest(verdict, h.action) : h.action;
    if (verdict === undefined || verdict === 'alert') {
      // Let through: the call is up, and it is what this endpoint does.
      const call: ActiveCall = { endpoint: e.endpoint, number: e.number, dialled: e.time, answered: undefined };
      // The same call dialling again (another number after no answer) is still one call up.
      if (known) this.calls.set(e.uniqueid, call);
      else this.callUp(state, e.uniqueid, call);
      learnCall(state.baseline, { country: destination.country, kind: destination.kind, time: e.time, concurrent: ctx.concurrent, perMinute: ctx.perMinute, perHour: ctx.perHour });
      if (source) learnSource(state.baseline, source.text, e.time);
      this.changed.add(e.endpoint);
      if (verdict === undefined) return undefined;
    }
    // A cut from an address the endpoint never used is someone else with its password.
    const escalated = verdict === 'hangup' && sourceIsNew && ctx.learned;
    if (escalated) verdict = 'block';
    return this.decide(e, state, destination, source, sourceIsNew, hits, verdict!, escalated);
  }

  private decide(e: DialEvent, state: EndpointState, destination: Destination, source: IpPrefix | undefined, sourceIsNew: boolean, hits: FraudHit[], verdict: FraudVerdict, escalated: boolean): FraudDecision {
    let banned = false;
    // The endpoint's own long-used address is its office: blocking the endpoint is enough.
    if (verdict === 'block' && source && sourceIsNew) {
      const r = this.ledger.request({ target: scoringKey(source, this.config.ipv6PrefixLength), time: e.time, reason: 'toll-fraud', origin: 'auto', note: `toll fraud from endpoint ${e.endpoint}: ${hits.map((h) => h.why).join('; ')}` });
      banned = 'action' in r || r.refused === 'already-banned';
    }
    const text =
      `endpoint ${e.endpoint} dialled ${e.number} (${destination.e164}, ${destination.kind.replace(/_/g, '-')}, ${destination.country})` +
      `${source ? ` from ${source.text}` : ''}: ${hits.map((h) => h.why).join('; ')}`;
    const blocked = this.blocks.has(e.endpoint);
    const whileBlocked = blocked ? (this.cutWhileBlocked.get(e.endpoint) ?? 0) + 1 : 0;
    if (blocked) this.cutWhileBlocked.set(e.endpoint, whileBlocked);
    const d: FraudDecision = { action: 'fraud', verdict, endpoint: e.endpoint, channel: e.channel, uniqueid: e.uniqueid, number: e.number, destination, source, banned, escalated, hits, time: e.time, text: blocked ? `${text} (call ${whileBlocked} cut since the block)` : text, whileBlocked };
    if (verdict === 'block' && !this.blocks.has(e.endpoint)) this.blocks.set(e.endpoint, { endpoint: e.endpoint, since: e.time, decision: fraudRecord(d) });
    if (verdict !== 'alert') bounded(this.cut, e.uniqueid, e.time, MAX_CALLS);
    state.decisions.push(d);
    if (state.decisions.length > DECISIONS_KEPT) state.decisions.shift();
    this.verdicts[verdict]++;
    return d;
  }

  /** Counts a call up; past MAX_CALLS the oldest is forgotten, and no longer counted. */
  private callUp(state: EndpointState, uniqueid: string, call: ActiveCall): void {
    if (this.calls.size >= MAX_CALLS) {
      const [oldest, old] = this.calls.entries().next().value!;
      this.calls.delete(oldest);
      const s = this.endpoints.get(old.endpoint);
      if (s) s.active = Math.max(0, s.active - 1);
    }
    state.active++;
    this.calls.set(uniqueid, call);
  }

  private ended(state: EndpointState, call: ActiveCall, time: number): void {
    state.active = Math.max(0, state.active - 1);
    const talk = call.answered === undefined ? 0 : time - call.answered;
    if (talk >= this.config.rules.shortCalls.shorterThanMs) {
      if (state.run?.number === call.number) state.run = undefined;
      return;
    }
    const run = state.run;
    if (run && run.number === call.number && time - run.since <= this.config.rules.shortCalls.windowMs) run.count++;
    else state.run = { number: call.number, count: 1, since: time };
  }

  /**
   * The endpoint's state, now the most recent (a Map keeps insertion order). Past the bound the
   * least recent goes, preferably one that never got a call through: 100,000 made-up endpoints
   * must not keep the PBX's own from being learned (issue 24).
   */
  private state(endpoint: string, time: number): EndpointState {
    let s = this.endpoints.get(endpoint);
    if (s) this.endpoints.delete(endpoint);
    else {
      s = { baseline: emptyBaseline(time), active: 0, dials: [], run: undefined, decisions: [] };
      if (this.endpoints.size >= MAX_ENDPOINTS) this.evictOne();
    }
    this.endpoints.set(endpoint, s);
    return s;
  }

  /** Among the oldest few, one that never got a call through and has none up; else the oldest (its block, if any, stays). */
  private evictOne(): void {
    let victim: string | undefined;
    let looked = 0;
    for (const [name, s] of this.endpoints) {
      victim ??= name;
      if (s.baseline.calls === 0 && s.active === 0 && !this.blocks.has(name)) {
        victim = name;
        break;
      }
      if (++looked >= EVICTION_LOOK) break;
    }
    if (victim !== undefined) {
      this.endpoints.delete(victim);
      this.changed.delete(victim);
    }
  }

  /** Calls up when the AMI connection went: their Hangups are lost, so they are forgotten
   *  (counting them up for ever would cut the endpoint's next calls as too many at once). */
  forgetCalls(): void {
    this.calls.clear();
    for (const s of this.endpoints.values()) s.active = 0;
  }

  /** Drops calls whose Hangup never came. */
  tick(now: number): void {
    for (const [id, call] of this.calls) {
      if (now - call.dialled <= LOST_CALL_MS) continue;
      this.calls.delete(id);
      const s = this.endpoints.get(call.endpoint);
      if (s) s.active = Math.max(0, s.active - 1);
    }
  }

  reconfigure(config: FraudConfig): void {
    this.config = config;
    this.reader.replan(config.plan);
    this.ignored.clear();
    for (const e of config.ignore) this.ignored.add(e);
  }

  /** The endpoints pjsip.conf identifies by address (read at start and at each reload). */
  setTrunks(endpoints: readonly string[]): void {
    this.trunks = new Set(endpoints);
  }

  /** Baselines (least recent first) and blocks from the store, at start. */
  restore(baselines: ReadonlyMap<string, Baseline>, blocks: readonly FraudBlock[]): void {
    for (const [endpoint, baseline] of baselines) {
      if (this.endpoints.size >= MAX_ENDPOINTS) this.evictOne();
      this.endpoints.set(endpoint, { baseline, active: 0, dials: [], run: undefined, decisions: [] });
    }
    for (const b of blocks) this.blocks.set(b.endpoint, b);
  }

  /** The baselines changed since the last call, for the store. */
  takeChanged(): Map<string, Baseline> {
    const out = new Map<string, Baseline>();
    for (const e of this.changed) {
      const s = this.endpoints.get(e);
      if (s) out.set(e, s.baseline);
    }
    this.changed.clear();
    return out;
  }

  get blockedCount(): number {
    return this.blocks.size;
  }

  get endpointCount(): number {
    return this.endpoints.size;
  }

  blockList(): FraudBlock[] {
    return [...this.blocks.values()];
  }

  isBlocked(endpoint: string): boolean {
    return this.blocks.has(endpoint);
  }

  /** Lifts an endpoint's block; false when it had none. */
  clear(endpoint: string): boolean {
    const had = this.blocks.delete(endpoint);
    this.cutWhileBlocked.delete(endpoint);
    const s = this.endpoints.get(endpoint);
    if (s) s.run = undefined;
    return had;
  }

  status(endpoint: string, now: number): FraudEndpointStatus | undefined {
    const s = this.endpoints.get(endpoint);
    const blocked = this.blocks.get(endpoint);
    if (!s && !blocked) return undefined;
    const b = s?.baseline ?? emptyBaseline(now);
    const { learning } = this.config;
    return { endpoint, calls: b.calls, learned: b.calls >= learning.calls && now - b.since >= learning.periodMs, countries: { ...b.countries }, active: s?.active ?? 0, blocked, cutWhileBlocked: this.cutWhileBlocked.get(endpoint) ?? 0, last: s?.decisions.at(-1) };
  }

  baseline(endpoint: string): Baseline | undefined {
    return this.endpoints.get(endpoint)?.baseline;
  }

  decisions(endpoint: string): readonly FraudDecision[] {
    return this.endpoints.get(endpoint)?.decisions ?? [];
  }

  /** Every endpoint it knows, blocked ones first. */
  list(now: number): FraudEndpointStatus[] {
    const names = new Set([...this.blocks.keys(), ...this.endpoints.keys()]);
    return [...names].map((e) => this.status(e, now)!).sort((a, b) => Number(!!b.blocked) - Number(!!a.blocked) || a.endpoint.localeCompare(b.endpoint));
  }
}

/** Sets a key in a map held to `max` entries: the oldest entry makes room. */
function bounded<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  if (!map.has(key) && map.size >= max) map.delete(map.keys().next().value!);
  map.set(key, value);
}
