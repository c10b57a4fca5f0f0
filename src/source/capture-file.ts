import { createReadStream, statSync } from 'node:fs';
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
  const reader = new LogLines(sink, { besideAmi: false });
  // Lines split by hand, a chunk at a time: readline's async iterator (a promise and its
  // microtasks per line) was a tenth of a replay's time.
  const push = (line: string) => {
    const text = line.endsWith('\r') ? line.slice(0, -1) : line;
    reader.push(readDatedPrefix(text, modified), text);
  };
  let partial = '';
  for await (const chunk of open(file).setEncoding('utf8')) {
    const lines = (partial + (chunk as string)).split('\n');
    partial = lines.pop()!;
    for (const line of lines) push(line);
  }
  if (partial !== '') push(partial);
  reader.end();
  return format;
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
