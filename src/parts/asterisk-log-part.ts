import { FileFollower, type FilePosition } from '../source/file-follower.js';
import { JournalFollower } from '../source/journal-follower.js';
import { LogLines } from '../source/log-lines.js';
import { readDatedPrefix } from '../source/log-prefix.js';
import type { Store } from '../store/store.js';
import type { Persister } from '../store/persister.js';
import type { AmiPart } from './ami-part.js';
import { changedKeys, tellTrouble, type DaemonContext, type MetricFamily, type Part, type PartCheck } from './part.js';
import type { PolicyPart } from './policy-part.js';

/**
 * How long a manager.c line waits for the closing line of its thread (a TCP login) before it
 * is read as a digest login. Asterisk's logger thread writes the two lines back to back (two
 * writes microseconds apart). A digest brute force gets one more try in per 2-3 ms of hold in
 * the lab: 500 ms let 19 in, 10 ms 9, against 6 for an INVITE scan. A TCP login whose two lines
 * are further apart than this (the logger preempted between its writes) counts twice: its
 * line here and its security event over AMI.
 */
const HOLD_MS = 3;

/** A file or the journal, as the part drives it. */
interface Follower {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Where the next start goes on from, as the store keeps it. */
  position(): string | undefined;
  /** A file's byte offset, for `status`. */
  offset(): number | null;
}

interface Followed {
  readonly path: string;
  readonly follower: Follower;
  readonly reader: LogLines;
  lines: number;
  failures: number;
  state: 'following' | 'missing';
}

/**
 * Asterisk's own log as a second source (issue 25): the failures AMI never reports, scored as
 * the security events they stand for; the ones AMI reports are counted and left to it, so each
 * failure counts once. Positions are kept in the store: a restart goes on where it stopped. The
 * AMI canary's refused login writes a NOTICE line too: a followed log that does not show it
 * while AMI did is silent (logger.conf sends it no NOTICE lines, or Asterisk stopped writing it).
 */
export function asteriskLogPart(ctx: DaemonContext, store: { store: Store; persister: Persister }, policy: PolicyPart, ami: AmiPart): Part {
  const { log, clock } = ctx;
  const config = ctx.config().asterisk_log!;
  const kinds = new Map<string, number>();
  const expecting = new Map<string, { seen: Set<string>; cancel: () => void }>();
  let silent = false;
  const trouble = (kind: 'asterisk-log-lost' | 'asterisk-log-restored', text: string) => tellTrouble(ctx, kind, text);

  const follow = (name: string, open: (lines: (lines: readonly string[], position: string) => void, event: (e: { kind: string; error?: string; why?: string }) => void) => Follower): Followed => {
    const counts = { lines: 0, failures: 0, state: 'following' as 'following' | 'missing' };
    let cancelHold: (() => void) | undefined;
    const reader = new LogLines(
      {
        fields(fields) {
          counts.failures++;
          policy.ingest(fields, clock.now());
        },
        malformed: (kind, detail) => ctx.core.pipeline.problems.report(kind, `${name}: ${detail}`),
        line: (kind) => void kinds.set(kind, (kinds.get(kind) ?? 0) + 1),
      },
      // While AMI is blind, the log is the only source: every kind is scored (found by the soak).
      { besideAmi: () => !ami.blind() },
    );
    const follower = open(
      (lines, position) => {
        const now = clock.monotonic();
        const wall = clock.now();
        for (const line of lines) {
          counts.lines++;
          for (const [account, e] of expecting) if (line.includes(account)) e.seen.add(name);
          reader.push(readDatedPrefix(line, wall), line, now);
        }
        reader.flush(now);
        reader.expire(now, HOLD_MS);
        // A line still held is decided when its wait ends, whether or not more lines come.
        if (reader.holding && cancelHold === undefined) {
          cancelHold = clock.after(HOLD_MS, () => {
            cancelHold = undefined;
            reader.expire(clock.monotonic(), HOLD_MS);
          });
        }
        store.persister.writeLatest(`position of ${name}`, () => store.store.setCursor(cursorName(name), position, clock.now()));
      },
      (e) => {
        if (e.kind === 'missing') {
          counts.state = 'missing';
          trouble('asterisk-log-lost', `${name} is gone (${e.error}): the failures only Asterisk's log tells (anonymous calls, AMI over HTTP, IAX2) are not seen until it is back. Check logger.conf and logrotate`);
        } else if (e.kind === 'opened' && counts.state === 'missing') {
          counts.state = 'following';
          trouble('asterisk-log-restored', `${name} is back and followed again`);
        } else if (e.kind === 'resume-lost') log.warn({ source: name, why: e.why }, 'the followed log changed while the guard was down; read from its start');
        else log.info({ source: name, ...e }, `followed log: ${e.kind}`);
      },
    );
    return Object.assign(counts, { path: name, follower, reader });
  };
  const cursorName = (name: string) => (name.startsWith('/') ? `log:${name}` : name);
  const followed: Followed[] = [
    ...config.files.map((file) =>
      follow(file, (lines, event) => {
        const f = new FileFollower({ path: file, clock, pollMs: config.poll, resume: readPosition(store.store.cursor(cursorName(file))), lines: (l, p) => lines(l, JSON.stringify(p)), event });
        return { start: () => f.start(), stop: () => f.stop(), position: () => (f.position ? JSON.stringify(f.position) : undefined), offset: () => f.position?.offset ?? null };
      }),
    ),
    ...(config.journal
      ? [
          follow(`journal:${config.journal.identifier}`, (lines, event) => {
            const j = new JournalFollower({ identifier: config.journal!.identifier, clock, pollMs: config.poll, resume: store.store.cursor(`journal:${config.journal!.identifier}`), lines, event });
            return { start: () => j.start(), stop: () => j.stop(), position: () => j.position, offset: () => null };
          }),
        ]
      : []),
  ];

  ami.onCanary((account) => {
    const seen = new Set<string>();
    const cancel = clock.after(ctx.config().canary.timeout, () => {
      expecting.delete(account);
      // Blind over AMI too: the canary part says so; the log's silence says nothing more.
      if (!ami.canaryEchoed(account)) return;
      const mute = followed.filter((f) => !seen.has(f.path)).map((f) => f.path);
      if (mute.length > 0 && !silent) {
        silent = true;
        trouble('asterisk-log-lost', `${mute.join(', ')}: no line for the canary AMI login as ${account} within ${ctx.config().canary.timeout / 1000} s, though AMI reported it. Asterisk does not write NOTICE lines there: check logger.conf ([logfiles]: the file with notice), then \`asterisk -rx "logger reload"\`, or asterisk_log.files`);
      } else if (mute.length === 0 && silent) {
        silent = false;
        trouble('asterisk-log-restored', `Asterisk's log shows the canary AMI login again (${followed.map((f) => f.path).join(', ')})`);
      }
    });
    expecting.set(account, { seen, cancel });
  });

  return {
    name: 'asterisk_log',
    async start() {
      for (const f of followed) await f.follower.start();
    },
    async stop() {
      for (const e of expecting.values()) e.cancel();
      for (const f of followed) {
        await f.follower.stop();
        f.reader.end();
        const position = f.follower.position();
        if (position) store.persister.writeLatest(`position of ${f.path}`, () => store.store.setCursor(cursorName(f.path), position, clock.now()));
      }
    },
    restartOnly: (running, next) => changedKeys(running, next, ['asterisk_log']),
    status: () => ({
      asterisk_log: {
        files: followed.map((f) => ({ path: f.path, state: f.state, lines: f.lines, failures_scored: f.failures, offset: f.follower.offset() })),
        kinds: Object.fromEntries(kinds),
        silent,
      },
    }),
    checks(): PartCheck[] {
      return followed.map((f) =>
        f.state === 'missing'
          ? { check: `asterisk log ${f.path}`, status: 'fail', detail: `${f.path} is missing`, fix: 'check the path in asterisk_log.files and logger.conf [logfiles]' }
          : silent
            ? { check: `asterisk log ${f.path}`, status: 'fail', detail: 'the last canary AMI login did not show in the followed log', fix: 'logger.conf: give this file notice (messages.log => notice,warning,error), then logger reload' }
            : { check: `asterisk log ${f.path}`, status: 'ok', detail: `followed: ${f.lines} lines read, ${f.failures} failures scored that AMI does not report` },
      );
    },
    metrics(): MetricFamily[] {
      return [
        { name: 'asterisk_guard_asterisk_log_lines_total', help: "Lines read from Asterisk's own log, per file", type: 'counter', labels: ['file'], read: () => followed.map((f) => [{ file: f.path }, f.lines] as const) },
        { name: 'asterisk_guard_asterisk_log_failures_total', help: "Failures scored from Asterisk's own log (the kinds AMI never reports), per file", type: 'counter', labels: ['file'], read: () => followed.map((f) => [{ file: f.path }, f.failures] as const) },
      ];
    },
  };
}

/** A stored position, or undefined when there is none or it is not one (a damaged row starts at the end). */
export function readPosition(text: string | undefined): FilePosition | undefined {
  if (text === undefined) return undefined;
  try {
    const p = JSON.parse(text) as Record<string, unknown>;
    const n = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
    if (n(p['dev']) && n(p['ino']) && n(p['offset']) && typeof p['head'] === 'string') return p as unknown as FilePosition;
  } catch {
    // Not JSON: as if none.
  }
  return undefined;
}
