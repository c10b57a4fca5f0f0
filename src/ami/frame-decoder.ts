import { StringDecoder } from 'node:string_decoder';

export type Fields = Record<string, string>;

export type MalformedKind = 'oversized-line' | 'oversized-frame' | 'line-without-colon' | 'truncated-frame';

export interface FrameSink {
  frame(fields: Fields): void;
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
 * Incremental AMI framing: `Key: Value` lines ending in CRLF (LF alone is accepted), a blank
 * line ends a frame. Bytes may be split anywhere, inside a line or a UTF-8 character. Bad input
 * is reported to the sink and skipped; memory stays bounded by the limits whatever arrives.
 */
export class AmiFrameDecoder {
  private readonly text = new StringDecoder('utf8');
  private pending = '';
  private fields: Fields = Object.create(null) as Fields;
  private fieldCount = 0;
  private discarding: MalformedKind | undefined;
  private skippingLongLine = false;
  private atStart = true;

  constructor(
    private readonly sink: FrameSink,
    private readonly limits: FrameLimits = DEFAULT_FRAME_LIMITS,
  ) {}

  push(chunk: Buffer): void {
    let data = this.text.write(chunk);
    if (this.skippingLongLine) {
      const nl = data.indexOf('\n');
      if (nl === -1) return;
      data = data.slice(nl + 1);
      this.skippingLongLine = false;
    }
    const buf = this.pending.length === 0 ? data : this.pending + data;
    let start = 0;
    for (;;) {
      const nl = buf.indexOf('\n', start);
      if (nl === -1) break;
      const end = nl > start && buf.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      if (end - start > this.limits.maxLineChars) this.discard('oversized-line', `line of ${end - start} characters`);
      else this.line(buf, start, end);
      start = nl + 1;
    }
    this.pending = start === 0 ? buf : buf.slice(start);
    if (this.pending.length > this.limits.maxLineChars) {
      this.discard('oversized-line', `line of more than ${this.limits.maxLineChars} characters`);
      this.pending = '';
      this.skippingLongLine = true;
    }
  }

  /** The connection ended: a frame still open is incomplete and is dropped, never half-used. */
  end(): void {
    this.text.end();
    if (this.fieldCount > 0 || this.pending.length > 0) {
      this.sink.malformed('truncated-frame', `connection ended inside a frame (${this.fieldCount} fields)`);
    }
    this.reset();
    this.pending = '';
    this.skippingLongLine = false;
    this.atStart = true;
  }

  private line(buf: string, start: number, end: number): void {
    if (end === start) {
      if (this.fieldCount > 0 && this.discarding === undefined) this.sink.frame(this.fields);
      this.reset();
      return;
    }
    if (this.discarding !== undefined) return;
    const colon = buf.indexOf(':', start);
    if (colon === -1 || colon >= end) {
      const text = buf.slice(start, end);
      if (this.atStart && this.fieldCount === 0 && text.startsWith('Asterisk Call Manager/')) {
        this.atStart = false;
        this.sink.banner(text);
        return;
      }
      this.discard('line-without-colon', JSON.stringify(text.slice(0, 80)));
      return;
    }
    this.atStart = false;
    if (this.fieldCount >= this.limits.maxFieldsPerFrame) {
      this.discard('oversized-frame', `more than ${this.limits.maxFieldsPerFrame} fields`);
      return;
    }
    const valueStart = buf.charCodeAt(colon + 1) === 32 ? colon + 2 : colon + 1;
    const key = buf.slice(start, colon);
    // A repeated key keeps its first value: security events never repeat one, and the first
    // cannot be overridden by a later injected line.
    if (this.fields[key] === undefined) {
      this.fields[key] = valueStart >= end ? '' : buf.slice(valueStart, end);
      this.fieldCount++;
    }
  }

  private discard(kind: MalformedKind, detail: string): void {
    if (this.discarding === undefined) this.sink.malformed(kind, detail);
    this.discarding = kind;
  }

  private reset(): void {
    this.fields = Object.create(null) as Fields;
    this.fieldCount = 0;
    this.discarding = undefined;
  }
}
