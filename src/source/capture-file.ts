import { createReadStream, statSync } from 'node:fs';
import { open as openFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { AmiFrameDecoder } from '../ami/frame-decoder.js';
import { LogLines, type LogLineSink } from './log-lines.js';
import { readDatedPrefix, readLogPrefix } from './log-prefix.js';
import { GuardError } from '../errors.js';

export type CaptureFormat = 'ami' | 'asterisk-log';

/**
 * A raw AMI capture starts with the banner or a `Key: Value` line; Asterisk's log (any channel,
 * any prefix: log-prefix.ts) with a line its logger wrote.
 */
export function detectFormat(head: string): CaptureFormat | undefined {
  const lines = head.split('\n').filter((l) => l.trim() !== '');
  const first = lines[0] ?? '';
  if (first.startsWith('Asterisk Call Manager/') || /^[A-Za-z-]+: /.test(first)) return 'ami';
  if (head.includes('SecurityEvent="') || lines.slice(0, 20).some((l) => readLogPrefix(l, 2000) !== undefined)) return 'asterisk-log';
  return undefined;
}

export type CaptureSink = LogLineSink;

/** Streams a capture's frames (or log lines) to the sink, in file order; a .gz file is read through gunzip. */
export async function readCapture(file: string, sink: CaptureSink): Promise<CaptureFormat> {
  const head = await readHead(file);
  const format = detectFormat(head);
  if (!format) {
    throw new GuardError(
      'AG_ERR_REPLAY_INPUT',
      `${file}: neither a raw AMI capture (Event: ... lines) nor Asterisk's log (messages, full, the security log, syslog or the journal)`,
    );
  }
  if (format === 'ami') {
    const decoder = new AmiFrameDecoder({
      // Action responses (the capture's own login) are part of a normal session, not input errors.
      frame: (f) => (f.get('Event') === undefined && f.get('Response') !== undefined ? undefined : sink.fields(f)),
      banner: () => {},
      malformed: (k, d) => sink.malformed(k, d),
    });
    for await (const chunk of open(file)) decoder.push(chunk as Buffer);
    decoder.end();
    return format;
  }
  const modified = statSync(file).mtimeMs;
  const reader = new LogLines(sink, { besideAmi: () => false });
  // Lines split by hand, a chunk at a time: readline's async iterator (a promise and its
  // microtasks per line) was a tenth of a replay's time. Each line is decoded alone: a chunk
  // decoded whole is a 64 KiB string its lines are slices of, which the young generation
  // promoted (measured: the heap grew by 60 MB in a 1M-line replay).
  let partial: Buffer | undefined;
  for await (const bytes of file.endsWith('.gz') ? (open(file) as AsyncIterable<Buffer>) : reusedChunks(file)) {
    let start = 0;
    let end = bytes.indexOf(10);
    if (partial !== undefined) {
      // The line the chunks split: only its bytes are joined.
      if (end === -1) {
        partial = Buffer.concat([partial, bytes]);
        continue;
      }
      const line = Buffer.concat([partial, bytes.subarray(0, end)]);
      pushLine(reader, line, 0, line.length, modified);
      start = end + 1;
      end = bytes.indexOf(10, start);
    }
    for (; end !== -1; start = end + 1, end = bytes.indexOf(10, start)) pushLine(reader, bytes, start, end, modified);
    // A copy: a later chunk is read into the same memory.
    partial = start < bytes.length ? Buffer.from(bytes.subarray(start)) : undefined;
  }
  if (partial !== undefined) pushLine(reader, partial, 0, partial.length, modified);
  reader.end();
  return format;
}

function pushLine(reader: LogLines, bytes: Buffer, start: number, end: number, modified: number): void {
  const text = bytes.toString('utf8', start, end > start && bytes[end - 1] === 13 ? end - 1 : end);
  reader.push(readDatedPrefix(text, modified), text);
}

/** Files by the time of their first logger line (rotations of one log do not overlap); AMI captures and undated files keep their place after them. */
export async function inTimeOrder(files: readonly string[]): Promise<string[]> {
  const firsts = await Promise.all(
    files.map(async (file) => {
      const head = await readHead(file);
      const modified = statSync(file).mtimeMs;
      for (const line of head.split('\n')) {
        const time = readDatedPrefix(line, modified)?.time;
        if (time !== undefined) return time;
      }
      return Infinity;
    }),
  );
  return files.map((file, i) => ({ file, first: firsts[i]!, i })).sort((a, b) => a.first - b.first || a.i - b.i).map((x) => x.file);
}

/**
 * A plain file in 1 MiB reads into two buffers in turn: each chunk is valid until the next but
 * one is asked for, and the next is read while this one is parsed. Measured on a 132 MB log:
 * 64 KiB stream reads left the replay waiting 0.16 s, and a fresh 1 MiB buffer per read put
 * 40 MB more in peak memory before the collector freed them.
 */
async function* reusedChunks(file: string): AsyncGenerator<Buffer> {
  const handle = await openFile(file, 'r');
  let reading = Buffer.allocUnsafe(1 << 20);
  let spare = Buffer.allocUnsafe(1 << 20);
  let next = handle.read(reading, 0, reading.length, null);
  try {
    for (;;) {
      const { bytesRead } = await next;
      if (bytesRead === 0) return;
      const chunk = reading.subarray(0, bytesRead);
      [reading, spare] = [spare, reading];
      next = handle.read(reading, 0, reading.length, null);
      yield chunk;
    }
  } finally {
    // A reader that stopped early leaves a read in flight: it ends before the file is closed.
    await next.catch(() => undefined);
    await handle.close();
  }
}

function open(file: string): Readable {
  const raw = createReadStream(file);
  return file.endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
}

async function readHead(file: string): Promise<string> {
  try {
    for await (const chunk of open(file)) return (chunk as Buffer).toString('utf8', 0, 4096);
    return '';
  } catch (e) {
    throw new GuardError('AG_ERR_REPLAY_INPUT', `cannot read ${file}: ${(e as Error).message}`);
  }
}
