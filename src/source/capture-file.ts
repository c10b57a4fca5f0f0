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
  malformed(kind: MalformedKind | 'not-a-security-line', detail: string): void;
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
    for await (const line of lines) {
      if (line.trim() === '') continue;
      const fields = parseSecurityLogLine(line);
      if (fields) sink.fields(recordReader(fields));
      else sink.malformed('not-a-security-line', line.slice(0, 80));
    }
  }
  return format;
}

async function readHead(file: string): Promise<string> {
  try {
    for await (const chunk of createReadStream(file, { start: 0, end: 4095, encoding: 'utf8' })) return chunk as string;
    return '';
  } catch (e) {
    throw new GuardError('AG_ERR_REPLAY_INPUT', `cannot read ${file}: ${(e as Error).message}`);
  }
}
