import type { MalformedKind } from '../ami/frame-decoder.js';
import { recordReader, type FieldReader } from '../events/fields.js';
import { readLogFailure, type LogFailure } from '../events/log-failures.js';
import { parseSecurityLogLine } from '../events/security-log.js';
import { withMessage, type LogEntry } from './log-prefix.js';

export interface LogLineSink {
  /** `fields` is valid during the call only. */
  fields(fields: FieldReader): void;
  malformed(kind: MalformedKind | 'not-a-security-line' | 'forged-field', detail: string): void;
  /**
   * Every line, once: read as this kind (a failure kind's line, `security`) or skipped as this
   * (`other`, `not-asterisk`, `continuation`, `also-in-security-log`, `same-attempt`, `reported-by-ami`).
   */
  line?(kind: string): void;
}

export interface LogLinesOptions {
  /**
   * Live beside AMI: only the failures AMI never reports are scored, so each counts once;
   * the others are counted as `reported-by-ami`. Asked at each line: while AMI is blind (its
   * connection down, or the canary unreported) the log is the only source and scores them all,
   * as replay does.
   */
  readonly besideAmi: () => boolean;
}

/** Line kinds the security channel (and AMI) report too. */
const SECURITY_EVENT_KINDS: ReadonlySet<string> = new Set(['pjsip-request-failed', 'sip-registration-failed', 'ami-unknown-user', 'ami-wrong-password', 'ami-failed-acl']);

/**
 * manager.c writes an unknown user or a failed ACL, then "failed to authenticate as" for the
 * same attempt, when the login came over AMI's TCP port or /rawman (authenticate(): a security
 * event each); over HTTP digest (/arawman, /amanager, /amxml: auth_http_callback) the first line
 * stands alone and no security event is raised. A held line is decided by the next line of its
 * thread, or by `expire`.
 */
const AMI_FIRST_LINES: ReadonlySet<string> = new Set(['ami-unknown-user', 'ami-failed-acl']);

interface Held {
  readonly failure: LogFailure & { ok: true };
  readonly heldAt: number;
}

const MAX_HELD = 1024;

/**
 * Asterisk's log, line by line, into security-event fields: the logic replay and the live
 * follower share. A line that does not start as the logger writes one continues the entry
 * before it (a value with a line break in it), so an entry is read when the next one begins,
 * or at `flush`.
 */
export class LogLines {
  private entry: LogEntry | undefined;
  private text = '';
  private pending = false;
  private seenSecurity = false;
  /** Held manager.c lines by the thread that wrote them (each AMI session has its own). */
  private readonly held = new Map<string, Held>();

  constructor(
    private readonly sink: LogLineSink,
    private readonly o: LogLinesOptions,
  ) {}

  /** One physical line, its prefix already read (undefined: not a logger line). `now`: monotonic ms, for `expire`. */
  push(entry: LogEntry | undefined, line: string, now = 0): void {
    if (line.trim() === '') return;
    if (entry === undefined && this.pending && this.entry !== undefined) {
      this.entry = withMessage(this.entry, `${this.entry.message}\n${line}`);
      this.text += `\n${line}`;
      return;
    }
    if (this.pending) this.read(this.entry, this.text, now);
    this.entry = entry;
    this.text = line;
    this.pending = true;
  }

  /** Reads the entry still waiting for a possible continuation (the end of a file, or of a live read). */
  flush(now = 0): void {
    if (this.pending) this.read(this.entry, this.text, now);
    this.pending = false;
    this.entry = undefined;
  }

  /** Are manager.c lines held (an `expire` is due)? */
  get holding(): boolean {
    return this.held.size > 0;
  }

  /** Decides the held manager.c lines whose thread wrote nothing after them since `now - afterMs` (digest logins: scored). */
  expire(now: number, afterMs: number): void {
    for (const [lwp, h] of this.held) if (now - h.heldAt >= afterMs) this.release(lwp);
  }

  /** The end of the input: everything held is decided. */
  end(): void {
    this.flush();
    for (const lwp of [...this.held.keys()]) this.release(lwp);
  }

  private count(kind: string): void {
    this.sink.line?.(kind);
  }

  private read(entry: LogEntry | undefined, text: string, now: number): void {
    if (entry === undefined) return this.count('not-asterisk');
    if (entry.message.startsWith('SecurityEvent="')) {
      this.seenSecurity = true;
      this.count('security');
      if (this.o.besideAmi()) return;
      const parsed = parseSecurityLogLine(entry.message);
      if (!parsed.ok) return this.sink.malformed(parsed.reason, parsed.detail);
      // A look-alike key in a value: counted, and the line still scored for the sender Asterisk named.
      if (parsed.forged) this.sink.malformed('forged-field', entry.message.slice(0, 120));
      return this.sink.fields(recordReader(parsed.fields));
    }
    // Failure messages are one line; what follows an entry unprefixed (a packet dump, a
    // program's output) is counted as continuation lines.
    const end = entry.message.indexOf('\n');
    if (end !== -1) for (let n = entry.message.split('\n').length - 1; n > 0; n--) this.count('continuation');
    const failure = readLogFailure(end === -1 ? entry : withMessage(entry, entry.message.slice(0, end)));
    if (failure === undefined) return this.count('other');
    this.count(failure.line);
    if (!failure.ok) return this.sink.malformed(failure.reason, `${failure.detail}: ${text.slice(0, 120)}`);
    const lwp = entry.lwp ?? '';
    const first = this.held.get(lwp);
    if (first !== undefined) {
      this.held.delete(lwp);
      if (failure.line === 'ami-wrong-password' && sameAttempt(first.failure, failure)) {
        // The closing line of a login over AMI's port: one attempt, with its security event.
        if (this.o.besideAmi()) return this.count('reported-by-ami');
        if (this.seenSecurity) return this.count('also-in-security-log');
        this.score(first.failure);
        return this.count('same-attempt');
      }
      this.score(first.failure);
    }
    if (AMI_FIRST_LINES.has(failure.line)) {
      this.held.set(lwp, { failure, heldAt: now });
      // Bounded: a flood of threads that never close their lines is decided oldest first.
      if (this.held.size > MAX_HELD) this.release(this.held.keys().next().value!);
      return;
    }
    if (SECURITY_EVENT_KINDS.has(failure.line)) {
      if (this.o.besideAmi()) return this.count('reported-by-ami');
      if (this.seenSecurity) return this.count('also-in-security-log');
    }
    this.score(failure);
  }

  /** A held manager.c line no closing line followed: a digest login, which no security event reports. */
  private release(lwp: string): void {
    const held = this.held.get(lwp);
    this.held.delete(lwp);
    if (held !== undefined) this.score(held.failure);
  }

  private score(failure: LogFailure & { ok: true }): void {
    this.sink.fields(recordReader(failure.fields));
  }
}

function sameAttempt(a: LogFailure & { ok: true }, b: LogFailure & { ok: true }): boolean {
  return a.fields.RemoteAddress === b.fields.RemoteAddress && a.fields.AccountID === b.fields.AccountID;
}
