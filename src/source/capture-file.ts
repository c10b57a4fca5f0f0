import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { AmiFrameDecoder, type MalformedKind } from '../ami/frame-decoder.js';
import { recordReader, type FieldReader } from '../events/fields.js';
import { parseSecurityLogLine } from '../events/security-log.js';
import { GuardError } from '../errors.js';

export type CaptureFormat = 'ami' | 'security-log';

/** A raw AMI capture starts with the banner or a `Key: Value` line; a log line with `[date]`. */
export function detectFormat(head: string): CaptureFormat | undefined {
  const first = head.split('\n').find((l) => l.trim() !== '') ?? '';
  if (first.startsWith('Asterisk Call Manager/') || /^[A-Za-z-]+: /.test(first)) return 'ami';
  if (head.includes('SecurityEvent="')) return 'security-log';
  return undefined;
}

export interface CaptureSink {
  /** `fields` is valid during the call only. */
  fields(fields: FieldReader): void;
  malformed(kind: MalformedKind | 'not-a-security-line' | 'forged-field', detail: string): void;
}

/** Streams a capture's frames (or log lines) to the sink, in file order. */
export async function readCapture(file: string, sink: CaptureSink): Promise<CaptureFormat> {
  const head = await readHead(file);
  const format = detectFormat(head);
  if (!format) {
    throw new GuardError(
      'AG_ERR_REPLAY_INPUT',
      `${file}: neither a raw AMI capture (Event: ... lines) nor an Asterisk security log (SecurityEvent="..." lines)`,
    );
  }
  if (format === 'ami') {
    const decoder = new AmiFrameDecoder({
      // Action responses (the capture's own login) are part of a normal session, not input errors.
      frame: (f) => (f.get('Event') === undefined && f.get('Response') !== undefined ? undefined : sink.fields(f)),
      banner: () => {},
      malformed: (k, d) => sink.malformed(k, d),
    });
    for await (const chunk of createReadStream(file)) decoder.push(chunk as Buffer);
    decoder.end();
  } else {
    const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
    // A value with a line break in it (an attacker's Call-ID) continues on the next physical
    // line: every logger line starts with its `[date]`, so one that does not is a continuation.
    let entry: string | undefined;
    const flush = () => {
      if (entry !== undefined) readLogEntry(entry, sink);
      entry = undefined;
    };
    for await (const line of lines) {
      if (line.trim() === '') continue;
      if (entry !== undefined && !line.startsWith('[')) {
        entry += `\n${line}`;
        continue;
      }
      flush();
      entry = line;
    }
    flush();
  }
  return format;
}

function readLogEntry(entry: string, sink: CaptureSink): void {
  const parsed = parseSecurityLogLine(entry);
  if (!parsed.ok) return sink.malformed(parsed.reason, parsed.detail);
  // A look-alike key in a value: counted, and the line still scored for the sender Asterisk named.
  if (parsed.forged) sink.malformed('forged-field', entry.slice(0, 120));
  sink.fields(recordReader(parsed.fields));
}

async function readHead(file: string): Promise<string> {
  try {
    for await (const chunk of createReadStream(file, { start: 0, end: 4095, encoding: 'utf8' })) return chunk as string;
    return '';
  } catch (e) {
    throw new GuardError('AG_ERR_REPLAY_INPUT', `cannot read ${file}: ${(e as Error).message}`);
  }
}
