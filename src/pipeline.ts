import type { Logger } from 'pino';
import type { Fields } from './ami/frame-decoder.js';
import { parseSecurityEvent } from './events/parse-event.js';
import type { SecurityEvent } from './events/security-event.js';
import type { Decision } from './policy/decision.js';
import type { Policy } from './policy/policy.js';

/**
 * Counts problems by kind and logs the first of each kind only: a flood of garbage must not
 * become a flood of log lines.
 */
export class ProblemCounter {
  readonly counts = new Map<string, number>();

  constructor(private readonly log: Logger) {}

  report(kind: string, detail: string): void {
    const n = (this.counts.get(kind) ?? 0) + 1;
    this.counts.set(kind, n);
    if (n === 1) this.log.warn({ kind, detail }, `skipped bad input (${kind}); further ones of this kind are only counted`);
  }
}

/** Fields in, decision out: the same path for live AMI, a capture and a log file. */
export class Pipeline {
  readonly eventsByKind = new Map<string, number>();

  constructor(
    private readonly policy: Policy,
    readonly problems: ProblemCounter,
    private readonly useEventTime: boolean,
  ) {}

  ingest(fields: Fields, arrival: number): { event: SecurityEvent; decisions: readonly Decision[] } | undefined {
    const parsed = parseSecurityEvent(fields, arrival, this.useEventTime);
    if (!parsed.ok) {
      this.problems.report(parsed.kind, parsed.reason);
      return undefined;
    }
    const key = `${parsed.event.service}/${parsed.event.kind}`;
    this.eventsByKind.set(key, (this.eventsByKind.get(key) ?? 0) + 1);
    return { event: parsed.event, decisions: this.policy.handle(parsed.event) };
  }
}
