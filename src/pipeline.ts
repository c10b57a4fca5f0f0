import type { Logger } from 'pino';
import type { FieldReader } from './events/fields.js';
import { SecurityEventParser } from './events/parse-event.js';
import type { SecurityEvent } from './events/security-event.js';
import { isCallEventName, parseCallEvent } from './calls/call-event.js';
import type { FraudDecision } from './fraud/fraud-decision.js';
import type { FraudGuard } from './fraud/fraud-guard.js';
import type { Decision } from './policy/decision.js';
import type { Policy } from './policy/policy.js';

/** What one event can decide: the policy's bans, alerts and trust, or a judged call. */
export type PipelineDecision = Decision | FraudDecision;

const NONE: readonly PipelineDecision[] = [];

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

const MAX_SERVICES = 16;

/** Fields in, decision out: the same path for live AMI, a capture and a log file. */
export class Pipeline {
  /** kind → service → events: two lookups per event, no key string built. */
  private readonly tally = new Map<string, Map<string, number>>();
  private readonly parser: SecurityEventParser;
  private readonly services = new Set<string>();
  private watcher: ((event: SecurityEvent) => void) | undefined;

  constructor(
    private readonly policy: Policy,
    readonly problems: ProblemCounter,
    private readonly useEventTime: boolean,
    /** The toll-fraud guard (fraud: in the config); without it call events are not read. */
    readonly fraud?: FraudGuard,
  ) {
    this.parser = new SecurityEventParser(useEventTime);
  }

  /**
   * The service as counted: Asterisk has a handful (PJSIP, SIP, IAX2, AMI, ARI...); past
   * MAX_SERVICES distinct names (a hostile AMI peer sent 200k) the rest count as `other`, so
   * the metrics keep a bounded number of series.
   */
  private serviceLabel(service: string): string {
    if (this.services.has(service)) return service;
    if (this.services.size >= MAX_SERVICES) return 'other';
    this.services.add(service);
    return service;
  }

  /** Hears every security event read (the web page's chart and top attackers). One watcher. */
  watch(listener: (event: SecurityEvent) => void): void {
    this.watcher = listener;
  }

  /** Events seen, keyed `SERVICE/Kind`. */
  get eventsByKind(): ReadonlyMap<string, number> {
    const out = new Map<string, number>();
    for (const [kind, byService] of this.tally) for (const [service, n] of byService) out.set(`${service}/${kind}`, n);
    return out;
  }

  /** The event's decisions (most often none); undefined when the input was not a usable event. */
  ingest(fields: FieldReader, arrival: number): readonly PipelineDecision[] | undefined {
    const parsed = this.parser.parse(fields, arrival);
    if (!parsed.ok) {
      if (parsed.kind === 'unknown-event' && this.fraud) {
        const name = fields.get('Event')!;
        if (isCallEventName(name)) return this.call(name, fields, arrival, this.fraud);
      }
      this.problems.report(parsed.kind, parsed.reason);
      return undefined;
    }
    this.count(parsed.event.kind, this.serviceLabel(parsed.event.service));
    this.watcher?.(parsed.event);
    const decisions = this.policy.handle(parsed.event);
    // Who authenticated from where, and which accounts are guessed (as far as the policy counts
    // the guesses: forged ones "from" an allow-listed address must not get an endpoint blocked).
    this.fraud?.noteSecurity(parsed.event, this.policy.lastFailureCounted);
    return decisions;
  }

  private call(name: string, fields: FieldReader, arrival: number, fraud: FraudGuard): readonly PipelineDecision[] | undefined {
    const parsed = parseCallEvent(name, fields, arrival, this.useEventTime);
    if (!parsed.ok) {
      this.problems.report(parsed.kind, parsed.reason);
      return undefined;
    }
    this.count(name, 'calls');
    if (!parsed.event) return NONE;
    const d = fraud.handleCall(parsed.event);
    return d ? [d] : NONE;
  }

  private count(kind: string, service: string): void {
    let byService = this.tally.get(kind);
    if (!byService) this.tally.set(kind, (byService = new Map()));
    byService.set(service, (byService.get(service) ?? 0) + 1);
  }
}
