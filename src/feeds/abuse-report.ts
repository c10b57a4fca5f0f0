import type { Evidence } from '../detect/evidence.js';
import type { FailureKind } from '../events/security-event.js';
import { overlaps, parseIpPrefix, type IpPrefix } from '../net/ip-prefix.js';
import type { BanDecision } from '../policy/decision.js';

// What an abuse report (AbuseIPDB, issue 26) says about a ban, and whether there is one at all.
// A report names the address and what it did, never the PBX: no account names, no local
// addresses, no service ports. Only the guard's own detections of single addresses are
// reported: an admin's ban, an import or another node's ban carry no evidence of ours (the
// node that decided reports it), and AbuseIPDB takes addresses, not ranges.

/** AbuseIPDB's categories (abuseipdb.com/categories). */
const BRUTE_FORCE = 18;
const FRAUD_VOIP = 8;

/** Addresses no report may name: they are not the internet's business, and AbuseIPDB refuses them. */
const NOT_PUBLIC = ['0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12', '192.168.0.0/16', '224.0.0.0/3', '::/127', 'fc00::/7', 'fe80::/10', 'ff00::/8'].map((t) => {
  const p = parseIpPrefix(t);
  if (!p.ok) throw new Error(p.reason);
  return p.value;
});

export interface AbuseReport {
  readonly ip: string;
  readonly categories: readonly number[];
  readonly comment: string;
  /** When the attack began (ISO 8601). */
  readonly timestamp: string;
}

export type ReportOrNot = { readonly report: AbuseReport } | { readonly skip: string };

const REPORTED = new Set<BanDecision['reason']>(['brute-force', 'slow-brute-force', 'guessed-password', 'tripwire', 'siege', 'toll-fraud']);

/** The report a ban makes, or why it makes none. */
export function reportOf(d: BanDecision): ReportOrNot {
  const p = d.target;
  if (d.origin !== 'auto' || !REPORTED.has(d.reason)) return { skip: `a ${d.origin} ban for ${d.reason}: not the guard's own detection` };
  if (p.length !== (p.family === 4 ? 32 : 128)) return { skip: 'a range: AbuseIPDB takes addresses' };
  if (!isPublic(p)) return { skip: 'not a public address' };
  const e = d.evidence;
  return {
    report: {
      ip: p.text,
      categories: d.reason === 'toll-fraud' ? [FRAUD_VOIP, BRUTE_FORCE] : [BRUTE_FORCE],
      comment: commentOf(d.reason, e),
      timestamp: new Date(e?.firstSeen ?? d.time).toISOString(),
    },
  };
}

export function isPublic(p: IpPrefix): boolean {
  return !NOT_PUBLIC.some((n) => overlaps(n, p));
}

const SERVICE_WORDS: Readonly<Record<string, string>> = { PJSIP: 'SIP', SIP: 'SIP', IAX2: 'IAX2', AMI: 'Asterisk Manager (AMI)' };

/** "SIP brute force against Asterisk: 5 failed authentications in 2 s". */
export function commentOf(reason: BanDecision['reason'], e: Evidence | undefined): string {
  const services = [...new Set((e?.services ?? []).map((s) => SERVICE_WORDS[s] ?? 'VoIP'))];
  const what = services.length > 0 ? services.join(' and ') : 'SIP';
  if (reason === 'toll-fraud') return `VoIP toll fraud against Asterisk: calls to premium-rate or foreign numbers from an account whose password was guessed or stolen (asterisk-guard)`;
  if (e === undefined) return `${what} brute force against Asterisk (asterisk-guard)`;
  const counts = e.events as Partial<Record<FailureKind, number>>;
  const total = Object.values(counts).reduce((a, b) => a + (b ?? 0), 0);
  const unknown = counts.InvalidAccountID ?? 0;
  const acl = counts.FailedACL ?? 0;
  const parts = [`${total} failed authentication${total === 1 ? '' : 's'} in ${spanText(e.lastSeen - e.firstSeen)}`];
  if (unknown > 0) parts.push(`${unknown} for accounts that do not exist`);
  if (acl > 0) parts.push(`${acl} refused by ACL`);
  const kind = reason === 'tripwire' ? 'login attempts on a decoy account' : reason === 'siege' ? 'password guessing from many addresses' : 'brute force';
  return `${what} ${kind} against Asterisk: ${parts.join(', ')} (asterisk-guard)`;
}

function spanText(ms: number): string {
  if (ms < 1000) return 'under a second';
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.round(ms / 3_600_000)} h`;
}
