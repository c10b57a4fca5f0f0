import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Clock } from '../time/clock.js';

/** Where reading stopped: the file (device, inode, its first line) and the byte after the last line read. */
export interface FilePosition {
  readonly dev: number;
  readonly ino: number;
  readonly offset: number;
  /** sha1 of the file's first bytes (up to its first line, at most 256): an inode reused by a new file is not the same file. */
  readonly head: string;
}

/** What happened to the followed file, for the log and the alerts. */
export type FollowerEvent =
  | { readonly kind: 'opened'; readonly at: 'end' | 'resumed' | 'start' }
  | { readonly kind: 'rotated' }
  | { readonly kind: 'truncated' }
  | { readonly kind: 'missing'; readonly error: string }
  | { readonly kind: 'resumed-in-rotated'; readonly file: string }
  | { readonly kind: 'resume-lost'; readonly why: string };

export interface FileFollowerOptions {
  readonly path: string;
  readonly clock: Clock;
  /** How often the file's name is checked for a rotation (the reads themselves follow inotify). */
  readonly pollMs: number;
  /** Where the last run stopped; undefined: start at the end (lines written before are replay's). */
  readonly resume: FilePosition | undefined;
  /** Complete lines, in file order, then the position after them. */
  readonly lines: (lines: readonly string[], position: FilePosition) => void;
  readonly event: (e: FollowerEvent) => void;
}

const CHUNK = 64 * 1024;
/** A line longer than this (no newline in sight) is passed on in pieces: memory stays bounded. */
const MAX_LINE = 64 * 1024;
const HEAD_BYTES = 256;
/** After a rename, Asterisk writes to the old file until `logger reload`: it is read this long more. */
const DRAIN_OLD_MS = 30_000;

interface Open {
  readonly handle: FileHandle;
  readonly dev: number;
  readonly ino: number;
  readonly name: string;
  offset: number;
  head: string;
  partial: Buffer;
}

/**
 * Follows a log file as `tail -F` does, line by line and without losing a line: through a
 * rotation by rename (the old file is read to its end, then the new one from its start), a
 * copytruncate (read again from the start), a file deleted and created again, and a restart
 * (from the position kept, in the rotated file if it moved meanwhile).
 */
export class FileFollower {
  private current: Open | undefined;
  private previous: { file: Open; until: number } | undefined;
  private watcher: FSWatcher | undefined;
  private cancelPoll: (() => void) | undefined;
  private busy: Promise<void> = Promise.resolve();
  private again = false;
  /** The run asked for checks the name (rotation, truncation), not only reads what was appended. */
  private full = false;
  private missing = false;
  private stopped = false;

  constructor(private readonly o: FileFollowerOptions) {}

  async start(): Promise<void> {
    await this.opening(this.o.resume);
    try {
      // A write to our file is read at once; a rename in the directory is checked as a rotation.
      const base = path.basename(this.o.path);
      this.watcher = watch(path.dirname(this.o.path), { persistent: false }, (type, name) => {
        if (name === null || name === base || type === 'rename') this.schedule(type === 'rename' || name === null);
      });
      this.watcher.on('error', () => {});
    } catch {
      // No inotify (a full watch table): the poll alone reads, a poll interval late.
    }
    this.poll();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelPoll?.();
    this.watcher?.close();
    await this.busy;
    await this.previous?.file.handle.close().catch(() => {});
    await this.current?.handle.close().catch(() => {});
  }

  /** The position after the last line handed on (undefined while no file is open). */
  get position(): FilePosition | undefined {
    return this.current && positionOf(this.current);
  }

  private poll(): void {
    this.cancelPoll = this.o.clock.after(this.o.pollMs, () => {
      this.schedule(true);
      if (!this.stopped) this.poll();
    });
  }

  /**
   * One run at a time; one asked for meanwhile runs once after it. A write only reads on (no
   * stat, no first-line check: the lines of an attack are read within a millisecond or two);
   * the poll and renames check the name too.
   */
  private schedule(full: boolean): void {
    this.full ||= full;
    if (this.again || this.stopped) return;
    this.again = true;
    this.busy = this.busy.then(async () => {
      this.again = false;
      const check = this.full || this.current === undefined;
      this.full = false;
      if (this.stopped) return;
      if (check) await this.check();
      else await this.readOn(this.current!);
    });
  }

  private async check(): Promise<void> {
    if (this.previous) {
      await this.readOn(this.previous.file);
      if (this.o.clock.monotonic() >= this.previous.until) {
        await this.previous.file.handle.close().catch(() => {});
        this.previous = undefined;
      }
    }
    const now = await stat(this.o.path).catch((e: NodeJS.ErrnoException) => e);
    if (now instanceof Error) {
      if (this.current) await this.readOn(this.current);
      if (!this.missing) this.o.event({ kind: 'missing', error: now.code ?? now.message });
      this.missing = true;
      return;
    }
    const cur = this.current;
    if (cur === undefined || now.ino !== cur.ino || now.dev !== cur.dev) {
      // Renamed away (or deleted) and a new file in its place: the old one to its end first.
      if (cur) {
        await this.readOn(cur);
        await this.previous?.file.handle.close().catch(() => {});
        this.previous = { file: cur, until: this.o.clock.monotonic() + DRAIN_OLD_MS };
        this.current = undefined;
        this.o.event({ kind: 'rotated' });
      }
      await this.opening(undefined, cur !== undefined || this.missing ? 'start' : 'end');
      return;
    }
    if (now.size < cur.offset || (await headOf(cur.handle)) !== cur.head) {
      // Copied and truncated in place (copytruncate), or rewritten: what is there now is new.
      cur.offset = 0;
      cur.partial = Buffer.alloc(0);
      cur.head = await headOf(cur.handle);
      this.o.event({ kind: 'truncated' });
    }
    await this.readOn(cur);
  }

  /** Opens the file at the path, at the end, at its start, or where `resume` says. */
  private async opening(resume: FilePosition | undefined, fresh: 'end' | 'start' = 'end'): Promise<void> {
    let handle: FileHandle;
    try {
      handle = await open(this.o.path, 'r');
    } catch (e) {
      if (!this.missing) this.o.event({ kind: 'missing', error: (e as NodeJS.ErrnoException).code ?? String(e) });
      this.missing = true;
      return;
    }
    this.missing = false;
    const s = await handle.stat();
    const file: Open = { handle, dev: s.dev, ino: s.ino, name: this.o.path, offset: fresh === 'end' ? s.size : 0, head: await headOf(handle), partial: Buffer.alloc(0) };
    let at: 'end' | 'start' | 'resumed' = fresh;
    if (resume) {
      if (resume.dev === s.dev && resume.ino === s.ino && resume.head === file.head && resume.offset <= s.size) {
        file.offset = resume.offset;
        at = 'resumed';
      } else {
        // Rotated while the guard was down: the rest of the old file, then all of this one.
        const moved = await this.findRotated(resume);
        if (moved) {
          await this.readOn(moved.file);
          this.previous = { file: moved.file, until: this.o.clock.monotonic() + DRAIN_OLD_MS };
          this.o.event({ kind: 'resumed-in-rotated', file: moved.name });
        } else {
          this.o.event({ kind: 'resume-lost', why: resume.dev === s.dev && resume.ino === s.ino ? 'the file was truncated or rewritten' : 'the file was replaced and the old one is not beside it' });
        }
        file.offset = 0;
        at = 'start';
      }
    }
    this.current = file;
    this.o.event({ kind: 'opened', at });
    await this.readOn(file);
  }

  /** The rotated file that holds `resume`'s inode and first line (messages.log.1, messages.log-20261204...). */
  private async findRotated(resume: FilePosition): Promise<{ file: Open; name: string } | undefined> {
    const dir = path.dirname(this.o.path);
    const base = path.basename(this.o.path);
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names) {
      if (name === base || !name.startsWith(base)) continue;
      const full = path.join(dir, name);
      const s = await stat(full).catch(() => undefined);
      if (!s || s.ino !== resume.ino || s.dev !== resume.dev || s.size < resume.offset) continue;
      const handle = await open(full, 'r').catch(() => undefined);
      if (!handle) continue;
      const head = await headOf(handle);
      if (head !== resume.head) {
        await handle.close();
        continue;
      }
      return { name: full, file: { handle, dev: s.dev, ino: s.ino, name: full, offset: resume.offset, head, partial: Buffer.alloc(0) } };
    }
    return undefined;
  }

  /** Reads what was appended, hands on the complete lines. */
  private async readOn(file: Open): Promise<void> {
    const buffer = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const { bytesRead } = await file.handle.read(buffer, 0, CHUNK, file.offset + file.partial.length);
      if (bytesRead === 0) return;
      let data = Buffer.concat([file.partial, buffer.subarray(0, bytesRead)]);
      const lines: string[] = [];
      let consumed = 0;
      for (let nl = data.indexOf(10); nl !== -1; nl = data.indexOf(10, consumed)) {
        lines.push(data.toString('utf8', consumed, nl));
        consumed = nl + 1;
      }
      if (data.length - consumed > MAX_LINE) {
        lines.push(data.toString('utf8', consumed));
        consumed = data.length;
      }
      file.offset += consumed;
      data = data.subarray(consumed);
      file.partial = Buffer.from(data);
      if (file.head === '' && file.offset > 0) file.head = await headOf(file.handle);
      if (lines.length > 0) this.o.lines(lines, positionOf(file === this.current ? file : (this.current ?? file)));
    }
  }
}

function positionOf(f: Open): FilePosition {
  return { dev: f.dev, ino: f.ino, offset: f.offset, head: f.head };
}

/** The fingerprint of a file's first line (up to 256 bytes); '' while it has none. */
async function headOf(handle: FileHandle): Promise<string> {
  const buffer = Buffer.alloc(HEAD_BYTES);
  const { bytesRead } = await handle.read(buffer, 0, HEAD_BYTES, 0);
  const nl = buffer.subarray(0, bytesRead).indexOf(10);
  const end = nl === -1 ? (bytesRead === HEAD_BYTES ? HEAD_BYTES : 0) : nl + 1;
  return end === 0 ? '' : createHash('sha1').update(buffer.subarray(0, end)).digest('hex');
}
