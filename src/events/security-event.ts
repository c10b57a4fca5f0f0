import type { IpPrefix } from '../net/ip-prefix.js';

// The kinds Asterisk's security framework emits (include/asterisk/security_events_defs.h).
export const FAILURE_KINDS = [
  'InvalidAccountID',
  'ChallengeResponseFailed',
  'InvalidPassword',
  'FailedACL',
  'RequestBadFormat',
  'RequestNotAllowed',
  'AuthMethodNotAllowed',
] as const;
export type FailureKind = (typeof FAILURE_KINDS)[number];

// Not failures: ChallengeSent is sent to every SIP client before it authenticates;
// SuccessfulAuth is a trust signal; the rest describe sessions, not attacks.
export const OTHER_KINDS = [
  'ChallengeSent',
  'SuccessfulAuth',
  'SessionLimit',
  'MemoryLimit',
  'LoadAverageLimit',
  'InvalidTransport',
  'UnexpectedAddress',
  'RequestNotSupported',
] as const;
export type OtherKind = (typeof OTHER_KINDS)[number];
export type SecurityEventKind = FailureKind | OtherKind;

const FAILURE_SET: ReadonlySet<string> = new Set(FAILURE_KINDS);
const KIND_SET: ReadonlySet<string> = new Set([...FAILURE_KINDS, ...OTHER_KINDS]);

export function isFailureKind(kind: SecurityEventKind): kind is FailureKind {
  return FAILURE_SET.has(kind);
}

export function isSecurityEventKind(name: string): name is SecurityEventKind {
  return KIND_SET.has(name);
}

export type Transport = 'UDP' | 'TCP' | 'TLS' | 'WS' | 'WSS' | 'SCTP';

export interface Endpoint {
  readonly ip: IpPrefix;
  readonly port: number;
  /** Absent when Asterisk wrote the address without one (`IPV4/203.0.113.5/5060`). */
  readonly transport: Transport | undefined;
}

export interface SecurityEvent {
  readonly kind: SecurityEventKind;
  /** `PJSIP`, `AMI`, `SIP`, `IAX2`, ... as Asterisk names the service. */
  readonly service: string;
  readonly account: string | undefined;
  readonly local: Endpoint | undefined;
  readonly remote: Endpoint;
  /** Milliseconds since the epoch: EventTV when replaying, arrival time when live. */
  readonly time: number;
  /**
   * The sender provably received Asterisk's answers, so the remote address is its own: the
   * request came over a connection (a forged address never completes the TCP handshake), or
   * it echoed the nonce Asterisk sent it (InvalidPassword's ReceivedChallenge = Challenge).
   * A UDP packet proves nothing: anyone can write any source address into one.
   */
  readonly roundTrip: boolean;
}

const CONNECTION_TRANSPORTS: ReadonlySet<Transport | undefined> = new Set(['TCP', 'TLS', 'WS', 'WSS', 'SCTP']);

/** Does the transport prove the peer's address (a handshake it had to answer)? */
export function isConnection(transport: Transport | undefined): boolean {
  return CONNECTION_TRANSPORTS.has(transport);
}
