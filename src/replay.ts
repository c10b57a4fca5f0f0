import type { Logger } from 'pino';
import type { Config } from './config/schema.js';
import { formatDuration } from './config/duration.js';
import { warningText, type Decision } from './policy/decision.js';
import { buildPipeline } from './service.js';
import { readCapture, type CaptureFormat } from './source/capture-file.js';

export interface ReplaySummary {
  readonly format: CaptureFormat;
  readonly decisions: readonly Decision[];
  readonly events: number;
  readonly problems: ReadonlyMap<string, number>;
}

/**
 * Feeds a capture through the live pipeline on the events' own clock, with no firewall:
 * a one-hour capture replays in milliseconds and decides exactly as the daemon would have.
 */
export async function replayFile(file: string, config: Config, log: Logger, onDecision: (d: Decision) => void): Promise<ReplaySummary> {
  const { pipeline } = buildPipeline(config, log, true);
  const decisions: Decision[] = [];
  let events = 0;
  const format = await readCapture(file, {
    fields(fields) {
      const result = pipeline.ingest(fields, 0);
      if (!result) return;
      events++;
      if (result.decision) {
        decisions.push(result.decision);
        onDecision(result.decision);
      }
    },
    malformed: (kind, detail) => pipeline.problems.report(kind, detail),
  });
  return { format, decisions, events, problems: pipeline.problems.counts };
}

/** One line per decision, action and target first: easy to grep, easy to diff. */
export function formatDecisionLine(d: Decision): string {
  const e = d.evidence;
  if (d.action === 'warn') return `warn ${d.target.text} reason=${d.reason} ${warningText(d)}`;
  const kinds = Object.entries(e.events).map(([k, n]) => `${k}:${n}`).join(',');
  return [
    `${d.action} ${d.target.text}`,
    `for ${formatDuration(d.durationMs)}`,
    `reason=${d.reason}`,
    `score=${e.score}`,
    `slow_score=${e.slowScore}`,
    `events=${kinds}`,
    `accounts=${e.accounts.join(',') || '-'}`,
    `services=${e.services.join(',')}`,
    `first=${new Date(e.firstSeen).toISOString()}`,
    `last=${new Date(e.lastSeen).toISOString()}`,
  ].join(' ');
}

export function decisionJson(d: Decision): string {
  return JSON.stringify({
    action: d.action,
    target: d.target.text,
    time: new Date(d.time).toISOString(),
    ...(d.action === 'ban' ? { bantime_s: d.durationMs / 1000 } : {}),
    reason: d.reason,
    evidence: { ...d.evidence, firstSeen: new Date(d.evidence.firstSeen).toISOString(), lastSeen: new Date(d.evidence.lastSeen).toISOString() },
  });
}
