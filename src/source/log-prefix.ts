// The prefixes Asterisk's logger writes before a message (main/logger.c, format_log_default and
// format_log_plain), and what syslog and the journal put before those:
//
//   file, default formatter  [DATE] LEVEL[LWP][C-xxxxxxxx] file.c: message
//   file, plain formatter    [DATE] LEVEL[LWP][C-xxxxxxxx]: file.c:LINE function: message
//   syslog                   Mon DD HH:MM:SS host asterisk[PID]: LEVEL[LWP][C-xxxxxxxx]: file.c:LINE in function: message
//   journalctl -o short      the same, with the journal's host and time
//   journalctl -o json       {"MESSAGE": "LEVEL[LWP]: file.c:LINE in function: message", "__REALTIME_TIMESTAMP": "µs", ...}
//
// DATE is logger.conf's `dateformat`: `%b %e %T` by default (no year), `%F %T`, `%F %T.%3q`.
// The call id `[C-xxxxxxxx]` is there only for lines logged within a call.

/** One logger line, its prefix read: what the message parsers need. */
export interface LogEntry {
  /** ms since the epoch; undefined when the prefix holds no time this can read. */
  readonly time: number | undefined;
  readonly level: string;
  /** The writing thread's id (LWP): lines of one attempt share it. */
  readonly lwp: string | undefined;
  /** The source file as Asterisk names it (`res_pjsip/pjsip_distributor.c`). */
  readonly file: string;
  readonly message: string;
}

const MONTHS: Readonly<Record<string, number>> = { Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11 };
const LEVEL_LWP = String.raw`([A-Z]+)\[(\d+)\](?:\[C-[0-9a-f]{8}\])?`;
// A source file, or the dialplan's Log() application: `Ext. EXTEN` (FreePBX's "Rejecting unknown SIP connection").
const FILE = String.raw`([A-Za-z0-9_./-]+\.c|Ext\. [^:\s]*)`;
const DATE = String.raw`(\w{3} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,6})?)`;
const FILE_DEFAULT = new RegExp(String.raw`^\[${DATE}\] ${LEVEL_LWP} ${FILE}: `);
const FILE_PLAIN = new RegExp(String.raw`^\[${DATE}\] ${LEVEL_LWP}: ${FILE}:\d+ [A-Za-z0-9_.-]+: `);
// The syslog formatter, behind syslog's or the journal's `DATE host ident[PID]: `.
const SYSLOG_BODY = String.raw`${LEVEL_LWP}: ${FILE}:\d+ in [A-Za-z0-9_.-]+: `;
const SYSLOG = new RegExp(String.raw`^(\w{3} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?) \S+ [A-Za-z0-9_./-]+\[\d+\]: ${SYSLOG_BODY}`);
const JOURNAL_MESSAGE = new RegExp(`^${SYSLOG_BODY}`);

/**
 * Reads a logger line's prefix. `year`: the year for dates written without one (the default
 * dateformat), chosen by the caller. Undefined: not a line of Asterisk's logger (a
 * continuation of the previous one, or another program's).
 */
export function readLogPrefix(line: string, year: number): LogEntry | undefined {
  return readPrefix(line, year, NaN);
}

/** A logger line written before `reference` (a file's modification time, or now): a date without a year (the default dateformat) is in that year, or the one before. */
export function readDatedPrefix(line: string, reference: number): LogEntry | undefined {
  return readPrefix(line, yearOf(reference), reference);
}

function readPrefix(line: string, year: number, reference: number): LogEntry | undefined {
  let m = FILE_DEFAULT.exec(line) ?? FILE_PLAIN.exec(line) ?? SYSLOG.exec(line);
  if (m) return new LoggerLine(m[1]!, year, reference, m[2]!, m[3], m[4]!, line.slice(m[0].length));
  if (line.startsWith('{')) return readJournalJson(line);
  return undefined;
}

/**
 * A prefixed line whose date is read when asked: most of a log is noise whose time nothing
 * needs, and reading every date was a tenth of a replay's time (measured).
 */
class LoggerLine implements LogEntry {
  /** NaN: not read yet. */
  private readTime: number | undefined = NaN;

  constructor(
    private readonly dateText: string,
    private readonly year: number,
    /** NaN: the year is `year`, whatever the date. */
    private readonly reference: number,
    readonly level: string,
    readonly lwp: string | undefined,
    readonly file: string,
    readonly message: string,
  ) {}

  get time(): number | undefined {
    if (Number.isNaN(this.readTime)) {
      const time = readDate(this.dateText, this.year);
      this.readTime = time !== undefined && time > this.reference + 86_400_000 ? readDate(this.dateText, this.year - 1) : time;
    }
    return this.readTime;
  }
}

/** The entry with another message (its continuation lines joined, or cut to its first line). */
export function withMessage(entry: LogEntry, message: string): LogEntry {
  return { time: entry.time, level: entry.level, lwp: entry.lwp, file: entry.file, message };
}

function readJournalJson(line: string): LogEntry | undefined {
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof record !== 'object' || record === null) return undefined;
  const { MESSAGE: message, __REALTIME_TIMESTAMP: micros } = record as Record<string, unknown>;
  if (typeof message !== 'string') return undefined;
  const m = JOURNAL_MESSAGE.exec(message);
  if (!m) return undefined;
  const time = typeof micros === 'string' && /^\d{1,17}$/.test(micros) ? Math.floor(Number(micros) / 1000) : undefined;
  return { time, level: m[1]!, lwp: m[2], file: m[3]!, message: message.slice(m[0].length) };
}

/** `Dec  4 18:09:41` (in `year`, local time as Asterisk wrote it), `2026-12-04 18:09:41[.123]`, or ISO 8601. */
function readDate(text: string, year: number): number | undefined {
  const month = MONTHS[text.slice(0, 3)];
  if (month !== undefined) {
    return minuteOf(`${year} ${text.slice(0, 12)}`, () => new Date(year, month, Number(text.slice(4, 6)), Number(text.slice(7, 9)), Number(text.slice(10, 12))).getTime()) + secondsOf(text.slice(13));
  }
  if (/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?$/.test(text)) {
    return minuteOf(text.slice(0, 16), () => Date.parse(`${text.slice(0, 10)}T${text.slice(11, 16)}:00`)) + secondsOf(text.slice(17));
  }
  const t = Date.parse(text.includes('T') ? text : text.replace(' ', 'T'));
  return Number.isNaN(t) ? undefined : t;
}

// A log's lines come in time order, many to a minute: the local-time conversion (a quarter of a
// replay's time, measured) runs once a minute, the seconds are added to it. Zone changes fall on
// whole minutes.
let lastMinuteKey = '';
let lastMinute = 0;

function minuteOf(key: string, compute: () => number): number {
  if (key !== lastMinuteKey) {
    lastMinute = compute();
    lastMinuteKey = key;
  }
  return lastMinute;
}

let lastReference = NaN;
let lastYear = 0;

/** The local year of `reference`: a replay asks with one file's time a million times. */
function yearOf(reference: number): number {
  if (reference !== lastReference) {
    lastYear = new Date(reference).getFullYear();
    lastReference = reference;
  }
  return lastYear;
}

/** `41` or `41.123` → ms. */
function secondsOf(text: string): number {
  return Math.round(Number(text) * 1000);
}
