import { StringDecoder } from 'node:string_decoder';

import type { FieldReader, Fields } from '../events/fields.js';

export type MalformedKind = 'oversized-line' | 'oversized-frame' | 'line-without-colon' | 'truncated-frame';

export interface FrameSink {
  /** `frame` is a view on the decoder's buffer, valid during this call only: copy with toFields(). */
  frame(frame: AmiFrame): void;
  banner(text: string): void;
  malformed(kind: MalformedKind, detail: string): void;
}

export interface FrameLimits {
  /** A longer line is dropped with the frame it belongs to: no AMI field comes near it. */
  readonly maxLineChars: number;
  readonly maxFieldsPerFrame: number;
}

export const DEFAULT_FRAME_LIMITS: FrameLimits = { maxLineChars: 8192, maxFieldsPerFrame: 256 };

/**
 * One frame's lines as offsets into the decoder's text. Values are cut out only when asked
 * for: a security event has 13 fields and the pipeline reads 6, and at a flood's rate the
 * strings and the object a full record needs are most of the cost of framing.
 */
export class AmiFrame implements FieldReader {
  text = '';
  count = 0;
  readonly starts: Int32Array;
  readonly colons: Int32Array;
  readonly ends: Int32Array;

  constructor(maxFields: number) {
    this.starts = new Int32Array(maxFields);
    this.colons = new Int32Array(maxFields);
    this.ends = new Int32Array(maxFields);
  }

  get(name: string): string | undefined {
    const n = name.length;
    for (let i = 0; i < this.count; i++) {
      const start = this.starts[i]!;
      if (this.colons[i]! - start === n && this.text.startsWith(name, start)) return this.value(i);
    }
    return undefined;
  }

  single(name: string): string | undefined | null {
    const n = name.length;
    let found = -1;
    for (let i = 0; i < this.count; i++) {
      const start = this.starts[i]!;
      if (this.colons[i]! - start !== n || !this.text.startsWith(name, start)) continue;
      if (found !== -1) return null;
      found = i;
    }
    return found === -1 ? undefined : this.value(found);
  }

  /** A copy that outlives the callback. A repeated key keeps its first value. */
  toFields(): Fields {
    const out = Object.create(null) as Fields;
    for (let i = 0; i < this.count; i++) {
      const key = this.text.slice(this.starts[i], this.colons[i]);
      if (out[key] === undefined) out[key] = this.value(i);
    }
    return out;
  }

  private value(i: number): string {
    const colon = this.colons[i]!;
    const end = this.ends[i]!;
    const start = this.text.charCodeAt(colon + 1) === 32 ? colon + 2 : colon + 1;
    return start >= end ? '' : this.text.slice(start, end);
  }

  /** Moves the offsets when the text before `by` is dropped. */
  rebase(by: number): void {
    for (let i = 0; i < this.count; i++) {
      this.starts[i]! -= by;
      this.colons[i]! -= by;
      this.ends[i]! -= by;
    }
  }
}

/**
 * Incremental AMI framing: `Key: Value` lines ending in CRLF (LF alone is accepted), a blank
 * line ends a frame. Bytes may be split anywhere, inside a line or a UTF-8 character. Bad input
 * is reported to the sink and skipped; memory stays bounded by the limits whatever arrives.
 */
export class AmiFrameDecoder {
  private readonly text = new StringDecoder('utf8');
  /** The open frame's text so far (or the open line's, when the frame is being discarded). */
  private pending = '';
  /** Where the unterminated line starts in `pending`. */
  private lineStart = 0;
  private readonly current: AmiFrame;
  private discarding: MalformedKind | undefined;
  private skippingLongLine = false;
  private atStart = true;

  constructor(
    private readonly sink: FrameSink,
    private readonly limits: FrameLimits = DEFAULT_FRAME_LIMITS,
  ) {
    this.current = new AmiFrame(limits.maxFieldsPerFrame);
  }

  push(chunk: Buffer): void {
    let data = this.text.write(chunk);
    if (this.skippingLongLine) {
      const nl = data.indexOf('\n');
      if (nl === -1) return;
      data = data.slice(nl + 1);
      this.skippingLongLine = false;
    }
    const buf = this.pending.length === 0 ? data : this.pending + data;
    const frame = this.current;
    frame.text = buf;
    let frameStart = 0;
    let start = this.lineStart;
    for (;;) {
      const nl = buf.indexOf('\n', start);
      if (nl === -1) break;
      const end = nl > start && buf.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      if (end === start) {
        if (frame.count > 0 && this.discarding === undefined) this.sink.frame(frame);
        this.reset();
        frameStart = nl + 1;
      } else if (end - start > this.limits.maxLineChars) {
        this.discard('oversized-line', `line of ${end - start} characters`);
      } else {
        this.line(buf, start, end);
      }
      start = nl + 1;
      // A discarded frame's text is not needed any more.
      if (this.discarding !== undefined) frameStart = start;
    }
    if (buf.length - start > this.limits.maxLineChars) {
      this.discard('oversized-line', `line of more than ${this.limits.maxLineChars} characters`);
      this.skippingLongLine = true;
      start = buf.length;
      frameStart = start;
    }
    this.pending = frameStart === 0 ? buf : buf.slice(frameStart);
    this.lineStart = start - frameStart;
    frame.rebase(frameStart);
    frame.text = this.pending;
  }

  /** The connection ended: a frame still open is incomplete and is dropped, never half-used. */
  end(): void {
    this.text.end();
    if (this.current.count > 0 || this.discarding !== undefined || this.pending.length > this.lineStart || this.skippingLongLine) {
      this.sink.malformed('truncated-frame', `connection ended inside a frame (${this.current.count} fields)`);
    }
    this.reset();
    this.pending = '';
    this.lineStart = 0;
    this.skippingLongLine = false;
    this.atStart = true;
  }

  private line(buf: string, start: number, end: number): void {
    if (this.discarding !== undefined) return;
    const colon = buf.indexOf(':', start);
    if (colon === -1 || colon >= end) {
      const text = buf.slice(start, end);
      if (this.atStart && this.current.count === 0 && text.startsWith('Asterisk Call Manager/')) {
        this.atStart = false;
        this.sink.banner(text);
        return;
      }
      this.discard('line-without-colon', JSON.stringify(text.slice(0, 80)));
      return;
    }
    this.atStart = false;
    const frame = this.current;
    if (frame.count >= this.limits.maxFieldsPerFrame) {
      this.discard('oversized-frame', `more than ${this.limits.maxFieldsPerFrame} fields`);
      return;
    }
    frame.starts[frame.count] = start;
    frame.colons[frame.count] = colon;
    frame.ends[frame.count] = end;
    frame.count++;
  }

  private discard(kind: MalformedKind, detail: string): void {
    if (this.discarding === undefined) this.sink.malformed(kind, detail);
    this.discarding = kind;
    this.current.count = 0;
  }

  private reset(): void {
    this.current.count = 0;
    this.discarding = undefined;
  }
}
