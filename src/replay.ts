import type { Logger } from 'pino';
import type { Config } from './config/schema.js';
import { formatDuration } from './time/duration.js';
import { formatFraudLine, fraudRecord } from './fraud/fraud-decision.js';
import type { PipelineDecision } from './pipeline.js';
import { buildCore } from './core.js';
import { parseAsteriskAddress } from './events/remote-address.js';
import { contains, parseIpPrefix } from './net/ip-prefix.js';
import { inTimeOrder, readCapture, type CaptureFormat } from './source/capture-file.js';

export interface ReplaySummary {
  readonly format: CaptureFormat;
  /** Decisions made (each went to onDecision as it was made: a million are not held). */
  readonly decisions: number;
  readonly events: number;
  readonly problems: ReadonlyMap<string, number>;
  /** A log's lines per kind read (`pjsip-request-failed`, `security`...) or skipped (`other`, `not-asterisk`...): every line is one. */
  readonly lines: ReadonlyMap<string, number>;
  /** The sources with the most events, most first, and whether they would have been banned. */
  readonly sources: ReadonlyArray<{ readonly address: string; readonly events: number; readonly banned: boolean }>;
  /** Distinct sources seen (up to MAX_COUNTED). */
  readonly distinctSources: number;
}

/** Sources counted for the summary at most: a log of a million sources keeps its memory bounded. */
const MAX_COUNTED = 100_000;
const TOP_SOURCES = 20;

/**
 * Feeds a capture through the live pipeline on the events' own clock, with no firewall:
 * a one-hour capture replays in milliseconds and decides exactly as the daemon would have.
 */
export async function replayFile(file: string | readonly string[], config: Config, log: Logger, onDecision: (d: PipelineDecision) => void): Promise<ReplaySummary> {
  const { pipeline } = buildCore(config, log, { useEventTime: true });
  let decisions = 0;
  let events = 0;
  const lines = new Map<string, number>();
  // Rotations (messages.log.2.gz, messages.log.1, messages.log) in time order, whatever the shell's.
  const files = await inTimeOrder(typeof file === 'string' ? [file] : file);
  let format: CaptureFormat = 'ami';
  const perSource = new Map<string, number>();
  const banned = new Set<string>();
  for (const f of files) format = await readCapture(f, {
    fields(fields) {
      const remote = fields.get('RemoteAddress');
      const address = remote === undefined ? undefined : parseAsteriskAddress(remote);
      if (address?.ok) {
        const n = perSource.get(address.value.ip.text);
        if (n !== undefined || perSource.size < MAX_COUNTED) perSource.set(address.value.ip.text, (n ?? 0) + 1);
      }
      const found = pipeline.ingest(fields, 0);
      if (!found) return;
      events++;
      for (const d of found) {
        decisions++;
        if (d.action === 'ban') banned.add(d.target.text);
        onDecision(d);
      }
    },
    malformed: (kind, detail) => pipeline.problems.report(kind, detail),
    line: (kind) => void lines.set(kind, (lines.get(kind) ?? 0) + 1),
  });
  // A source is banned when a ban covers it: its own, or its range's.
  const coveredBy = [...banned].map((b) => parseIpPrefix(b)).flatMap((p) => (p.ok ? [p.value] : []));
  const sources = [...perSource]
    .sort((a, b) => b[1] - a[1])
    .slice(0, TOP_SOURCES)
    .map(([address, n]) => {
      const ip = parseIpPrefix(address);
      return { address, events: n, banned: ip.ok && coveredBy.some((p) => contains(p, ip.value)) };
    });
  return { format, decisions, events, problems: pipeline.problems.counts, lines, sources, distinctSources: perSource.size };
}

/** One line per decision, action and target first: easy to grep, easy to diff. */
export function formatDecisionLine(d: PipelineDecision): string {
  if (d.action === 'fraud') return formatFraudLine(d);
  if (d.action === 'trust') return `trust ${d.target.text} until=${new Date(d.until).toISOString()} account=${d.account ?? '-'}`;
  if (d.action === 'alert') return `alert ${d.target?.text ?? '-'} severity=${d.severity} reason=${d.reason} ${d.text}`;
  const e = d.evidence;
  return [
    `ban ${d.target.text}`,
    `for ${d.durationMs === null ? 'ever' : formatDuration(d.durationMs)}`,
    `reason=${d.reason}`,
    `step=${d.step}`,
    ...(e
      ? [
          `score=${e.score}`,
          `slow_score=${e.slowScore}`,
          `events=${Object.entries(e.events).map(([k, n]) => `${k}:${n}`).join(',')}`,
          `accounts=${e.accounts.join(',') || '-'}`,
          `services=${e.services.join(',')}`,
          `first=${new Date(e.firstSeen).toISOString()}`,
          `last=${new Date(e.lastSeen).toISOString()}`,
        ]
      : []),
  ].join(' ');
}

export function decisionJson(d: PipelineDecision): string {
  const iso = (t: number) => new Date(t).toISOString();
  if (d.action === 'fraud') return JSON.stringify({ ...fraudRecord(d), time: iso(d.time) });
  const evidence = 'evidence' in d && d.evidence ? { ...d.evidence, firstSeen: iso(d.evidence.firstSeen), lastSeen: iso(d.evidence.lastSeen) } : undefined;
  return JSON.stringify({ ...d, target: d.target?.text, time: iso(d.time), ...(evidence ? { evidence } : {}), ...(d.action === 'trust' ? { until: iso(d.until) } : {}) });
}
