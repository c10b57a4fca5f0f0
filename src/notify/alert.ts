import { SEVERITIES } from '../config/schema.js';
import type { FraudDecision } from '../fraud/fraud-decision.js';
import type { AlertDecision, BanDecision } from '../policy/decision.js';
import { formatDuration } from '../time/duration.js';

export type Severity = (typeof SEVERITIES)[number];

export type AlertKind = 'ban' | 'subnet-ban' | 'toll-fraud' | AlertDecision['reason'] | SystemAlertKind;

/** One thing the admins hear about, whatever the channel. */
export interface Alert {
  readonly kind: AlertKind;
  readonly severity: Severity;
  readonly time: number;
  /** One line: the e-mail subject, the chat message's first line. */
  readonly title: string;
  /** The evidence, as lines a person reads. */
  readonly lines: readonly string[];
}

export function atLeast(severity: Severity, minimum: Severity): boolean {
  return SEVERITIES.indexOf(severity) >= SEVERITIES.indexOf(minimum);
}

const iso = (t: number) => new Date(t).toISOString();

export function banAlert(d: BanDecision): Alert {
  const length = d.durationMs === null ? 'for good' : `for ${formatDuration(d.durationMs)}`;
  const e = d.evidence;
  const lines = [
    `banned ${d.target.text} ${length} (reason ${d.reason}, escalation step ${d.step + 1})`,
    ...(e
      ? [
          `events: ${Object.entries(e.events).map(([k, n]) => `${k} ${n}`).join(', ')}`,
          `accounts tried: ${e.accounts.join(', ') || 'none'}`,
          `services: ${e.services.join(', ')}`,
          `first seen ${iso(e.firstSeen)}, last seen ${iso(e.lastSeen)}`,
          `score ${e.score} (slow ${e.slowScore})`,
        ]
      : []),
  ];
  const subnet = d.reason === 'subnet' || (d.reason === 'range' && d.target.length < (d.target.family === 4 ? 32 : 64));
  return { kind: subnet ? 'subnet-ban' : 'ban', severity: subnet || d.reason === 'guessed-password' ? 'warning' : 'info', time: d.time, title: `asterisk-guard: banned ${d.target.text}`, lines };
}

export function decisionAlert(d: AlertDecision): Alert {
  return { kind: d.reason, severity: d.severity, time: d.time, title: `asterisk-guard: ${d.text}`, lines: [d.text, ...(d.evidence ? [`accounts: ${d.evidence.accounts.join(', ')}`, `events: ${Object.entries(d.evidence.events).map(([k, n]) => `${k} ${n}`).join(', ')}`] : [])] };
}

/** A judged call: what was dialled, from where, why, and what the guard did about it. */
export function fraudAlert(d: FraudDecision): Alert {
  const did = d.verdict === 'alert' ? 'let through (alert only)' : d.verdict === 'hangup' ? 'hung up' : `hung up, endpoint blocked${d.banned ? `, ${d.source?.text} banned` : ''}`;
  return {
    kind: 'toll-fraud',
    severity: d.verdict === 'block' ? 'critical' : 'warning',
    time: d.time,
    title: d.whileBlocked > 0 ? `asterisk-guard: endpoint ${d.endpoint} is blocked and still dialling: ${d.whileBlocked} calls cut since the block` : `asterisk-guard: toll fraud? endpoint ${d.endpoint} called ${d.destination.e164}: ${did}`,
    lines: [
      `endpoint ${d.endpoint}, channel ${d.channel}, dialled ${d.number} (${d.destination.e164}, ${d.destination.kind.replace(/_/g, '-')}, ${d.destination.country})`,
      `from ${d.source?.text ?? 'an address Asterisk did not report'} at ${iso(d.time)}`,
      ...d.hits.map((h) => `${h.rule} (${h.action}): ${h.why}`),
      ...(d.escalated ? ['raised from hangup to block: the address is new to this endpoint'] : []),
      `done: ${did}${d.verdict === 'block' ? `; lift with: asterisk-guard fraud clear ${d.endpoint}` : ''}`,
    ],
  };
}

/** What the guard itself has to say about its own state (not about an attacker). */
export type SystemAlertKind =
  | 'ami-lost'
  | 'ami-restored'
  | 'firewall-failing'
  | 'store-failing'
  | 'store-recreated'
  | 'store-disk-low'
  | 'store-disk-restored'
  | 'kernel-bans-kept'
  | 'ban-cap-reached'
  | 'table-restored'
  | 'conntrack-full'
  | 'conntrack-restored'
  | 'canary-missing'
  | 'canary-restored'
  | 'fleet-lost'
  | 'fleet-restored'
  | 'fleet-unban-refused'
  | 'fleet-tampered'
  | 'fleet-twin'
  | 'fleet-write-refused'
  | 'fraud-action-failed'
  | 'asterisk-log-lost'
  | 'asterisk-log-restored'
  | 'feed-failing'
  | 'feed-restored'
  | 'abuse-report-refused'
  | 'test';

const INFO: ReadonlySet<SystemAlertKind> = new Set(['ami-restored', 'conntrack-restored', 'store-disk-restored', 'canary-restored', 'asterisk-log-restored', 'feed-restored', 'test']);
const WARNING: ReadonlySet<SystemAlertKind> = new Set(['ami-lost', 'store-disk-low', 'table-restored', 'kernel-bans-kept', 'fleet-lost', 'fleet-restored', 'fleet-twin', 'fleet-write-refused', 'asterisk-log-lost', 'feed-failing', 'abuse-report-refused']);

export function systemSeverity(kind: SystemAlertKind): Severity {
  return INFO.has(kind) ? 'info' : WARNING.has(kind) ? 'warning' : 'critical';
}

export function systemAlert(kind: SystemAlertKind, time: number, text: string): Alert {
  return { kind, severity: systemSeverity(kind), time, title: `asterisk-guard: ${text}`, lines: [text] };
}
