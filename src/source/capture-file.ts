import { createReadStream, statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { createInterface } from 'node:readline';
import { AmiFrameDecoder, type MalformedKind } from '../ami/frame-decoder.js';
import { recordReader, type FieldReader } from '../events/fields.js';
import { readLogFailure } from '../events/log-failures.js';
import { parseSecurityLogLine } from '../events/security-log.js';
import { readLogPrefix, type LogEntry } from './log-prefix.js';
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

export interface CaptureSink {
  /** `fields` is valid during the call only. */
  fields(fields: FieldReader): void;
  malformed(kind: MalformedKind | 'not-a-security-line' | 'forged-field', detail: string): void;
  /** A log line read as this kind (a failure kind's line, `security`), or skipped as this (`other`, `not-asterisk`, `also-in-security-log`). */
  line?(kind: string): void;
}

/** Line kinds the security channel reports too: once it has been seen, their NOTICE lines would count a failure twice. */
const ALSO_SECURITY_EVENTS: ReadonlySet<string> = new Set(['pjsip-request-failed', 'sip-registration-failed', 'ami-unknown-user', 'ami-wrong-password', 'ami-failed-acl']);

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
  let seenSecurity = false;
  const count = (kind: string) => sink.line?.(kind);
  const readEntry = (entry: LogEntry | undefined, text: string) => {
    if (entry === undefined) return count('not-asterisk');
    if (entry.message.startsWith('SecurityEvent="')) {
      seenSecurity = true;
      count('security');
      return readSecurityEntry(entry.message, sink);
    }
    // Failure messages are one line; what follows an entry unprefixed (a packet dump, a
    // program's output) is counted as continuation lines.
    const end = entry.message.indexOf('\n');
    if (end !== -1) for (let n = entry.message.split('\n').length - 1; n > 0; n--) count('continuation');
    const failure = readLogFailure(end === -1 ? entry : { ...entry, message: entry.message.slice(0, end) });
    if (failure === undefined) return count('other');
    count(failure.line);
    if (!failure.ok) return sink.malformed(failure.reason, `${failure.detail}: ${text.slice(0, 120)}`);
    if (seenSecurity && ALSO_SECURITY_EVENTS.has(failure.line)) return count('also-in-security-log');
    sink.fields(recordReader(failure.fields));
  };
  const lines = createInterface({ input: open(file).setEncoding('utf8'), crlfDelay: Infinity });
  // A value with a line break in it (an attacker's Call-ID) continues on the next physical
  // line: a line that does not start as the logger writes one is a continuation.
  let entry: LogEntry | undefined;
  let text = '';
  let pending = false;
  for await (const line of lines) {
    if (line.trim() === '') continue;
    const next = readDatedPrefix(line, modified);
    if (next === undefined && pending && entry !== undefined) {
      entry = { ...entry, message: `${entry.message}\n${line}` };
      text += `\n${line}`;
      continue;
    }
    if (pending) readEntry(entry, text);
    entry = next;
    text = line;
    pending = true;
  }
  if (pending) readEntry(entry, text);
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

/** A logger line of a file modified at `modified`: a date without a year (the default dateformat) is in that year, or the one before. */
function readDatedPrefix(line: string, modified: number): LogEntry | undefined {
  const year = new Date(modified).getFullYear();
  const entry = readLogPrefix(line, year);
  return entry?.time !== undefined && entry.time > modified + 86_400_000 ? readLogPrefix(line, year - 1) : entry;
}

function readSecurityEntry(message: string, sink: CaptureSink): void {
  const parsed = parseSecurityLogLine(message);
  if (!parsed.ok) return sink.malformed(parsed.reason, parsed.detail);
  // A look-alike key in a value: counted, and the line still scored for the sender Asterisk named.
  if (parsed.forged) sink.malformed('forged-field', message.slice(0, 120));
  sink.fields(recordReader(parsed.fields));
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
