import type { LogEntry } from '../source/log-prefix.js';
import type { Fields } from './fields.js';
import type { FailureKind } from './security-event.js';

// Failures Asterisk writes to its ordinary log (NOTICE and WARNING lines), read as the security
// events the scores already weigh, so a log and an AMI stream of the same attack decide the
// same. The format strings are Asterisk's own (13 to 22), quoted beside each template.
//
// Parts of these lines are the sender's words: the From and To headers, the Call-ID, the
// dialled extension, an AMI or IAX2 user name. An address inside them must never frame another
// address. Asterisk's own address field is found by the line's structure: each template is
// matched twice, once with the sender's parts as short as they can be and once as long, and
// a line that the two read with different addresses fits two readings: it is not used, and
// counted as forged.

/** What a template's slots may hold. */
const SLOT: Readonly<Record<string, string>> = {
  // The sender's text: anything, and the slot that makes a line ambiguous.
  text: '(.*?)',
  // The sender's SIP URI or method as pjsip prints them: escaped, never a space (a reading
  // that puts one in it is not Asterisk's).
  uri: '(.*?)',
  // Asterisk's address, as ast_sockaddr_stringify / pj_sockaddr_print write it: `1.2.3.4`,
  // `1.2.3.4:5060`, `[2001:db8::1]:5060`, `2001:db8::1`.
  addr: String.raw`(\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?|\[[0-9A-Fa-f:.]+\](?::\d{1,5})?|[0-9A-Fa-f]{0,4}:[0-9A-Fa-f:.]+)`,
  // A transport name Asterisk writes (UDP, TCP, TLS, WS, WSS).
  transport: '([A-Za-z]{2,4})',
  // pjsip_distributor's reasons, and its optional count.
  pjsip: '(No matching endpoint found|Failed to authenticate|Error to authenticate|Not match Endpoint ACL|Not match Endpoint Contact ACL)(?: after \\d+ tries in [\\d.]+ ms)?',
  // chan_sip's registration failures.
  sip: '(Wrong password|Username/auth name mismatch|No matching peer found|Not a local domain|Peer is not supposed to register|Device does not match ACL|Device not configured to use this transport type)',
};

interface LineKind {
  /** A name for counting (`replay`'s summary per line kind). */
  readonly name: string;
  readonly service: string;
  /** Compiled twice: the sender's slots lazy, then greedy. */
  readonly lazy: RegExp;
  readonly greedy: RegExp;
  /** Slot names in order, and which hold no space in a reading Asterisk could write. */
  readonly slots: readonly string[];
  readonly spaceless: readonly boolean[];
  /** The failure it is, from the slots' values; undefined: a line of this kind that is no failure. */
  readonly kind: (v: Readonly<Record<string, string>>) => FailureKind | undefined;
  /** The account the sender named, for the evidence. */
  readonly account?: (v: Readonly<Record<string, string>>) => string | undefined;
}

/** `{slot}` and `{slot:name}` in a template; the rest is Asterisk's text, matched as written. */
function lineKind(name: string, service: string, template: string, kind: LineKind['kind'], account?: LineKind['account']): LineKind {
  const slots: string[] = [];
  const spaceless: boolean[] = [];
  let lazy = '';
  let greedy = '';
  for (const part of template.split(/(\{[a-z]+(?::[a-z]+)?\})/)) {
    const m = /^\{([a-z]+)(?::([a-z]+))?\}$/.exec(part);
    if (!m) {
      const literal = part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      lazy += literal;
      greedy += literal;
      continue;
    }
    slots.push(m[2] ?? m[1]!);
    spaceless.push(m[1] === 'uri');
    const pattern = SLOT[m[1]!]!;
    lazy += pattern;
    greedy += m[1] === 'text' || m[1] === 'uri' ? '(.*)' : pattern;
  }
  return { name, service, lazy: new RegExp(`^${lazy}$`, 's'), greedy: new RegExp(`^${greedy}$`, 's'), slots, spaceless, kind, account };
}

const PJSIP_REASON: Readonly<Record<string, FailureKind>> = {
  'No matching endpoint found': 'InvalidAccountID',
  'Failed to authenticate': 'ChallengeResponseFailed',
  'Error to authenticate': 'ChallengeResponseFailed',
  'Not match Endpoint ACL': 'FailedACL',
  'Not match Endpoint Contact ACL': 'FailedACL',
};
const SIP_REASON: Readonly<Record<string, FailureKind | undefined>> = {
  'Wrong password': 'InvalidPassword',
  'Username/auth name mismatch': 'InvalidAccountID',
  'No matching peer found': 'InvalidAccountID',
  'Not a local domain': 'InvalidAccountID',
  'Peer is not supposed to register': 'InvalidAccountID',
  'Device does not match ACL': 'FailedACL',
  // InvalidTransport: counted as a kind, scored by nothing (as its security event).
  'Device not configured to use this transport type': undefined,
};
/** The user part of a SIP URI the sender wrote (`<sip:1003@pbx>` → 1003), for the evidence. */
const sipUser = (uri: string | undefined) => (uri === undefined ? undefined : /sips?:([^@;>]*)@/.exec(uri)?.[1]);
const failed = (kind: FailureKind) => () => kind;

/** Line kinds by the source file that writes them (the basename, as the prefix names it). */
const KINDS: Readonly<Record<string, readonly LineKind[]>> = {
  'pjsip_distributor.c': [
    // 13.24+, 15.7+, 16.1+: "Request '%s' from '%s' failed for '%s' (callid: %s) - %s[ after %u tries in %.3f ms]" (address with port, IPv6 in brackets)
    // 13.10-16.0: "Request '%s' from '%s' failed for '%s:%d' (callid: %s) - %s"
    lineKind('pjsip-request-failed', 'PJSIP', "Request '{uri:method}' from '{uri:from}' failed for '{addr}' (callid: {text:callid}) - {pjsip:reason}", (v) => PJSIP_REASON[v.reason!], (v) => sipUser(v.from)),
    // 13.0-13.9: "Request from '%s' failed for '%s:%d' (callid: %s) - No matching endpoint found"
    lineKind('pjsip-request-failed', 'PJSIP', "Request from '{uri:from}' failed for '{addr}' (callid: {text:callid}) - {pjsip:reason}", (v) => PJSIP_REASON[v.reason!], (v) => sipUser(v.from)),
  ],
  'res_pjsip_session.c': [
    // 20+ (ast_trace_log): "%s: Call (%s:%s) to extension '%s' rejected because extension not found in context '%s'."
    lineKind('pjsip-extension-not-found', 'PJSIP', "{uri:endpoint}: Call ({transport}:{addr}) to extension '{text:exten}' rejected because extension not found in context '{text:context}'.", failed('InvalidAccountID'), (v) => v.exten),
    // 13-19: "Call from '%s' (%s:%s:%d) to extension '%s' rejected because extension not found in context '%s'."
    lineKind('pjsip-extension-not-found', 'PJSIP', "Call from '{text:endpoint}' ({transport}:{addr}) to extension '{text:exten}' rejected because extension not found in context '{text:context}'.", failed('InvalidAccountID'), (v) => v.exten),
  ],
  'chan_sip.c': [
    // "Registration from '%s' failed for '%s' - %s": the To header, then Asterisk's address
    lineKind('sip-registration-failed', 'SIP', "Registration from '{text:to}' failed for '{addr}' - {sip:reason}", (v) => SIP_REASON[v.reason!], (v) => sipUser(v.to)),
    // "Call from '%s' (%s) to extension '%s' rejected because extension not found in context '%s'."
    lineKind('sip-extension-not-found', 'SIP', "Call from '{text:user}' ({addr}) to extension '{text:exten}' rejected because extension not found in context '{text:context}'.", failed('InvalidAccountID'), (v) => v.exten),
  ],
  'manager.c': [
    lineKind('ami-unknown-user', 'AMI', "{addr} tried to authenticate with nonexistent user '{text:user}'", failed('InvalidAccountID'), (v) => v.user),
    lineKind('ami-wrong-password', 'AMI', "{addr} failed to authenticate as '{text:user}'", failed('InvalidPassword'), (v) => v.user),
    lineKind('ami-failed-acl', 'AMI', "{addr} failed to pass IP ACL as '{text:user}'", failed('FailedACL'), (v) => v.user),
  ],
  'chan_iax2.c': [
    lineKind('iax2-wrong-password', 'IAX2', 'Host {addr} failed to authenticate as {text:user}', failed('InvalidPassword'), (v) => v.user),
    lineKind('iax2-wrong-password', 'IAX2', "Host {addr} failed MD5 authentication for '{text:user}' ({text:got} != {text:expected})", failed('ChallengeResponseFailed'), (v) => v.user),
    lineKind('iax2-wrong-password', 'IAX2', "Host {addr} did not provide proper plaintext password for '{text:user}'", failed('InvalidPassword'), (v) => v.user),
    lineKind('iax2-unknown-peer', 'IAX2', "No registration for peer '{text:user}' (from {addr})", failed('InvalidAccountID'), (v) => v.user),
    lineKind('iax2-unknown-peer', 'IAX2', "Peer '{text:user}' is not dynamic (from {addr})", failed('InvalidAccountID'), (v) => v.user),
    lineKind('iax2-failed-acl', 'IAX2', "Host {addr} denied access to register peer '{text:user}'", failed('FailedACL'), (v) => v.user),
    lineKind('iax2-rejected', 'IAX2', 'Rejected connect attempt from {addr}, {text:why}', failed('InvalidAccountID')),
    lineKind('iax2-rejected', 'IAX2', 'Rejected dial attempt from {addr}, {text:why}', failed('InvalidAccountID')),
  ],
  'acl.c': [
    // "%sRejecting '%s' due to a failure to pass ACL '%s'": the prefix is the caller's (a module's name)
    lineKind('acl-rejected', 'ACL', "{text:who}Rejecting '{addr}' due to a failure to pass ACL '{text:acl}'", failed('FailedACL')),
  ],
  // FreePBX's dialplan: Log(WARNING,Rejecting unknown SIP connection from ${CHANNEL(recvip)})
  Ext: [lineKind('freepbx-unknown-sip', 'SIP', 'Rejecting unknown SIP connection from {addr}', failed('InvalidAccountID'))],
};

/**
 * The line kinds of a source file as the prefix names it, remembered by its whole name: a log
 * names a few dozen files a million times, and this is asked of every line (the basename cut
 * and looked up each time was a tenth of a replay, measured).
 */
const kindsByFile = new Map<string, readonly LineKind[] | undefined>();
const MAX_FILES = 4096;

function kindsOf(file: string): readonly LineKind[] | undefined {
  const known = kindsByFile.get(file);
  if (known !== undefined || kindsByFile.has(file)) return known;
  const kinds = KINDS[file.startsWith('Ext. ') ? 'Ext' : file.slice(file.lastIndexOf('/') + 1)];
  // Bounded: FreePBX's `Ext. EXTEN` names are the dialplan's, as many as it has extensions.
  if (kindsByFile.size < MAX_FILES) kindsByFile.set(file, kinds);
  return kinds;
}

export type LogFailure =
  | { readonly ok: true; readonly line: string; readonly kind: FailureKind | undefined; readonly fields: Fields }
  | { readonly ok: false; readonly line: string; readonly reason: 'forged-field'; readonly detail: string };

/**
 * A failure in a logger line, as security-event fields (Event, Service, AccountID,
 * RemoteAddress, EventTV); undefined when the line is none of the kinds above.
 */
export function readLogFailure(entry: LogEntry): LogFailure | undefined {
  const kinds = kindsOf(entry.file);
  if (kinds === undefined) return undefined;
  // ast_trace_log indents its message.
  const message = entry.message.trim();
  for (const k of kinds) {
    const first = k.lazy.exec(message);
    if (!first) continue;
    const at = k.slots.indexOf('addr') + 1;
    // The shortest and the longest reading of the sender's parts, where Asterisk could write them.
    const readings = [first, k.greedy.exec(message)!].filter((r) => k.spaceless.every((no, i) => !no || !/\s/.test(r[i + 1]!)));
    const reading = readings[0];
    if (reading === undefined || readings.some((r) => r[at] !== reading[at])) {
      return { ok: false, line: k.name, reason: 'forged-field', detail: `${k.name}: ${reading === undefined ? 'no reading Asterisk could have written' : `two addresses fit (${readings.map((r) => r[at]).join(', ')})`}; none is used` };
    }
    const values: Record<string, string> = {};
    k.slots.forEach((s, i) => (values[s] = reading[i + 1]!));
    const kind = k.kind(values);
    const fields: Fields = { Event: kind ?? 'InvalidTransport', Service: k.service, RemoteAddress: asteriskAddress(values.addr!, values.transport) };
    const account = k.account?.(values);
    if (account !== undefined && account !== '') fields.AccountID = account.slice(0, 128);
    if (entry.time !== undefined) fields.EventTV = new Date(entry.time).toISOString();
    return { ok: true, line: k.name, kind, fields };
  }
  return undefined;
}

/** `1.2.3.4:5060` → `IPV4/UDP/1.2.3.4/5060`, as AMI names addresses (port 0 where the line has none). */
function asteriskAddress(text: string, transport: string | undefined): string {
  let host = text;
  let port = '0';
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracketed) {
    host = bracketed[1]!;
    port = bracketed[2] ?? '0';
  } else if (/^\d{1,3}(?:\.\d{1,3}){3}:\d+$/.test(text)) {
    [host, port] = text.split(':') as [string, string];
  }
  const family = host.includes(':') ? 'IPV6' : 'IPV4';
  return `${family}/${transport ? `${transport.toUpperCase()}/` : ''}${host}/${port}`;
}
