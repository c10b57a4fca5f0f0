import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { Core } from '../core.js';
import type { DecisionBus, Trouble } from '../effects/bus.js';
import { systemSeverity } from '../notify/alert.js';
import type { Clock } from '../time/clock.js';

// The daemon is a list of parts (src/service.ts). A part owns what it opens: it starts it,
// stops it, applies a reloaded config to it, and tells `status`, `doctor` and the metrics
// about it. Nothing outside a part names what is inside it, so a new part shows up in all of
// them by being on the list.

/** One health check a running part reports (`doctor` prints them; `fix` says what to do). */
export interface PartCheck {
  readonly check: string;
  readonly status: 'ok' | 'fail' | 'info';
  readonly detail: string;
  readonly fix?: string;
}

/** A Prometheus series family a part exposes, read at each scrape (the hot path pays nothing). */
export interface MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge';
  /** One number, or one per label set. */
  readonly read: () => number | Iterable<readonly [Readonly<Record<string, string>>, number]>;
  readonly labels?: readonly string[];
}

export interface Part {
  /** For logs and errors: "kernel", "ami", ... */
  readonly name: string;
  /** Opens what the part owns. Parts start in list order: a part may rely on those before it. */
  start?(): Promise<void>;
  /** Releases what the part owns. Parts stop in reverse order; a stop must not throw. */
  stop?(): Promise<void>;
  /**
   * The config keys (dotted paths) this part read at start that differ in `next`: a reload
   * cannot apply them, they keep their running value until a restart.
   */
  restartOnly?(running: Config, next: Config): readonly string[];
  /** Applies a reloaded config (what `restartOnly` named is already set back to the running value). */
  reload?(config: Config): Promise<void> | void;
  /** Its sections of the `status` answer (top-level keys, JSON values). */
  status?(): Readonly<Record<string, unknown>>;
  /** What `doctor` says of it while the daemon runs. */
  checks?(): readonly PartCheck[];
  metrics?(): readonly MetricFamily[];
}

/** The config keys (sections or dotted paths) named whose value differs in `next`. */
export function changedKeys(running: Config, next: Config, keys: readonly string[]): string[] {
  return keys.filter((k) => JSON.stringify(valueAt(running, k.split('.'))) !== JSON.stringify(valueAt(next, k.split('.'))));
}

/** Starts the parts in order; on a failure, stops the ones started (and the one failing) in reverse, then rethrows. */
export async function startParts(parts: readonly Part[], stopping?: AbortSignal): Promise<'started' | 'abandoned'> {
  for (let i = 0; i < parts.length; i++) {
    try {
      await parts[i]!.start?.();
    } catch (e) {
      await stopParts(parts.slice(0, i + 1));
      throw e;
    }
    if (stopping?.aborted) {
      await stopParts(parts.slice(0, i + 1));
      return 'abandoned';
    }
  }
  return 'started';
}

export async function stopParts(parts: readonly Part[]): Promise<void> {
  for (const p of [...parts].reverse()) await p.stop?.();
}

/**
 * Applies `next` to every part. Returns the keys that only a restart changes (they keep their
 * running values in the config the parts receive) and that config.
 */
export async function reloadParts(parts: readonly Part[], running: Config, next: Config): Promise<{ applied: Config; needRestart: string[] }> {
  const needRestart = [...new Set(parts.flatMap((p) => p.restartOnly?.(running, next) ?? []))];
  let applied = next;
  for (const key of needRestart) applied = withValue(applied, key.split('.'), valueAt(running, key.split('.')));
  applied = Object.freeze(applied);
  for (const p of parts) await p.reload?.(applied);
  return { applied, needRestart };
}

export function statusOf(parts: readonly Part[]): Record<string, unknown> {
  return Object.assign({}, ...parts.map((p) => p.status?.() ?? {}), { checks: parts.flatMap((p) => p.checks?.() ?? []) });
}

function valueAt(o: unknown, path: readonly string[]): unknown {
  return path.reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], o);
}

function withValue<T>(o: T, path: readonly string[], value: unknown): T {
  const [head, ...rest] = path;
  const copy = { ...(o as Record<string, unknown>) };
  if (rest.length === 0) {
    if (value === undefined) delete copy[head!];
    else copy[head!] = value;
  } else copy[head!] = withValue(copy[head!], rest, value);
  return copy as T;
}

/** What every part may use: made once by the composition root. */
export interface DaemonContext {
  readonly log: Logger;
  readonly clock: Clock;
  readonly bus: DecisionBus;
  readonly core: Core;
  /** The config as last applied (a reload replaces it; restart-only keys keep their start values). */
  readonly config: () => Config;
}

const LOG_LEVEL = { info: 'info', warning: 'warn', critical: 'error' } as const;

/**
 * A change of the guard's own state, told twice: in its log, at the level of the alert's
 * severity, and to the admins (an alert of `kind`).
 */
export function tellTrouble({ log, bus, clock }: Pick<DaemonContext, 'log' | 'bus' | 'clock'>, kind: Trouble['kind'], text: string, fields: Record<string, unknown> = {}): void {
  log[LOG_LEVEL[systemSeverity(kind)]](fields, text);
  bus.emit('trouble', { kind, time: clock.now(), text });
}

/**
 * A part the config leaves off: its status sections say so (null), and turning it on is a
 * change only a restart applies.
 */
export function offPart(name: string, sections: readonly (keyof Config)[]): Part {
  const status = Object.fromEntries(sections.map((k) => [k, null]));
  return { name, status: () => status, restartOnly: (running, next) => changedKeys(running, next, sections) };
}
