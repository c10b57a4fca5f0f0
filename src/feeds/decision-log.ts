import type { IpPrefix } from '../net/ip-prefix.js';

// The guard's bans as CrowdSec decisions (issue 26, bans out): what a bouncer pulls from
// `GET /v1/decisions/stream`. Each bouncer (one API key) gets every ban in force at its
// startup pull, then the bans and lifts since its last pull, from a bounded log of changes.

/** A decision as CrowdSec's Local API swagger names its fields. */
export interface LapiDecision {
  readonly id: number;
  readonly origin: string;
  readonly type: 'ban';
  readonly scope: 'Ip' | 'Range';
  readonly value: string;
  readonly duration: string;
  readonly scenario: string;
}

export interface BanInForce {
  readonly prefix: IpPrefix;
  /** ms since the epoch; null: permanent. */
  readonly until: number | null;
  readonly reason: string;
}

type Change = { readonly seq: number; readonly op: 'new'; readonly ban: BanInForce } | { readonly seq: number; readonly op: 'deleted'; readonly prefix: IpPrefix };

/** A permanent ban, as a duration a bouncer takes (ten years). */
const FOREVER_MS = 10 * 365 * 86_400_000;

export class DecisionLog {
  private changes: Change[] = [];
  private seq = 0;
  private nextId = 1;
  /** Per bouncer key: the last change it was given. */
  private readonly cursors = new Map<string, number>();

  constructor(private readonly max: number) {}

  banned(ban: BanInForce): void {
    this.push({ seq: ++this.seq, op: 'new', ban });
  }

  lifted(prefix: IpPrefix): void {
    this.push({ seq: ++this.seq, op: 'deleted', prefix });
  }

  /**
   * The stream answer for one bouncer: at its startup (or when its cursor fell out of the
   * log) every ban in force; otherwise the changes since its last pull, the latest per prefix.
   */
  stream(key: string, startup: boolean, inForce: () => Iterable<BanInForce>, now: number): { new: LapiDecision[] | null; deleted: LapiDecision[] | null } {
    const since = this.cursors.get(key);
    this.cursors.set(key, this.seq);
    const oldest = this.changes[0]?.seq ?? this.seq + 1;
    if (startup || since === undefined || since + 1 < oldest) {
      const all = [...inForce()].filter((b) => b.until === null || b.until > now).map((b) => this.decision(b, now));
      return { new: all.length > 0 ? all : null, deleted: null };
    }
    const latest = new Map<string, Change>();
    for (const c of this.changes) if (c.seq > since) latest.set(c.op === 'new' ? c.ban.prefix.text : c.prefix.text, c);
    const added: LapiDecision[] = [];
    const deleted: LapiDecision[] = [];
    for (const c of latest.values()) {
      if (c.op === 'new') {
        if (c.ban.until === null || c.ban.until > now) added.push(this.decision(c.ban, now));
      } else deleted.push(this.decision({ prefix: c.prefix, until: now, reason: 'lifted' }, now));
    }
    return { new: added.length > 0 ? added : null, deleted: deleted.length > 0 ? deleted : null };
  }

  /** The bans in force that contain `ip`, as `GET /v1/decisions?ip=` answers. */
  covering(matches: Iterable<BanInForce>, now: number): LapiDecision[] {
    return [...matches].filter((b) => b.until === null || b.until > now).map((b) => this.decision(b, now));
  }

  private decision(b: BanInForce, now: number): LapiDecision {
    const full = b.prefix.length === (b.prefix.family === 4 ? 32 : 128);
    return {
      id: this.nextId++,
      origin: 'asterisk-guard',
      type: 'ban',
      scope: full ? 'Ip' : 'Range',
      value: full ? b.prefix.text.replace(/\/\d+$/, '') : b.prefix.text,
      duration: goDuration(b.until === null ? FOREVER_MS : Math.max(0, b.until - now)),
      scenario: `asterisk-guard/${b.reason}`,
    };
  }

  private push(c: Change): void {
    this.changes.push(c);
    if (this.changes.length > this.max) this.changes = this.changes.slice(this.changes.length - Math.floor(this.max / 2));
  }
}

/** ms as Go prints a time.Duration (`3h59m59s`), to the second. */
export function goDuration(ms: number): string {
  let s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return `${h > 0 ? `${h}h` : ''}${h > 0 || m > 0 ? `${m}m` : ''}${s}s`;
}
