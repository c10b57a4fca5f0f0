import { GuardError } from '../errors.js';
import { isTrue, readAsteriskConf, ConfParseError, type ConfEntry, type ConfSection } from './asterisk-conf.js';

/** What the guard takes from Asterisk's manager.conf to reach its own AMI user. */
export interface ManagerSettings {
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
  readonly username: string;
  readonly secret: string;
}

function last(entries: readonly ConfEntry[], key: string): ConfEntry | undefined {
  for (let i = entries.length - 1; i >= 0; i--) if (entries[i]!.key === key) return entries[i];
  return undefined;
}

function fail(file: string, message: string): GuardError {
  return new GuardError('AG_ERR_MANAGER_CONF', `${file}: ${message}`);
}

/** Where to connect for a bind address: a wildcard bind is reached on loopback. */
function connectHost(bind: string): string {
  if (bind === '' || bind === '0.0.0.0') return '127.0.0.1';
  if (bind === '::' || bind === '[::]') return '::1';
  return bind.replace(/^\[(.*)\]$/, '$1');
}

/** Splits `0.0.0.0:5039` or `[::]:5039` (tlsbindaddr) into host and port. */
function splitHostPort(text: string, defaultPort: number): { host: string; port: number } {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (v6) return { host: v6[1]!, port: v6[2] ? Number(v6[2]) : defaultPort };
  const colon = text.lastIndexOf(':');
  if (colon !== -1 && text.indexOf(':') === colon) return { host: text.slice(0, colon), port: Number(text.slice(colon + 1)) };
  return { host: text, port: defaultPort };
}

function hasClass(value: string, wanted: string): boolean {
  return value.split(',').some((c) => c.trim().toLowerCase() === wanted || c.trim().toLowerCase() === 'all');
}

function hasSecurityRead(value: string): boolean {
  return hasClass(value, 'security');
}

/**
 * What the toll-fraud guard lacks in its AMI user's section, each with the line to change:
 * `read = call` (the call events), `write = system` (Hangup and the AstDB block; `call` cuts
 * but cannot block), and eventfilters that let DialBegin, DialEnd and Hangup through.
 */
export function callRightsProblems(file: string, username: string): string[] {
  const entries = readAsteriskConf(file)
    .filter((s) => s.name === username && !s.isTemplate)
    .flatMap((s) => s.entries);
  if (entries.length === 0) return [];
  const where = (e: ConfEntry | undefined, key: string) => (e ? `${e.file}:${e.line} \`${key} = ${e.value}\`` : `[${username}] (no ${key} line)`);
  const problems: string[] = [];
  const read = last(entries, 'read');
  if (!read || !hasClass(read.value, 'call')) problems.push(`${where(read, 'read')} lacks call: no call event reaches the guard, which finds calls only in the channel list (fraud.channel_poll): one may connect before it is judged`);
  const write = last(entries, 'write');
  if (!write || (!hasClass(write.value, 'system') && !hasClass(write.value, 'call'))) problems.push(`${where(write, 'write')} lacks system: a fraudulent call is neither hung up nor its endpoint blocked`);
  else if (!hasClass(write.value, 'system')) problems.push(`${where(write, 'write')} lacks system: fraudulent calls are hung up but the endpoint is not blocked (AMI DBPut), and calls no event told of are not found (AMI CoreShowChannels)`);
  // Include filters, new style (`eventfilter(action(include),name(X)) =`; keys come lower-cased)
  // or old (`eventfilter = Event: X`, a regex; `!` excludes): with any, nothing else passes.
  const includes = entries.filter((e) => (e.key.startsWith('eventfilter(') && e.key.includes('action(include)')) || (e.key === 'eventfilter' && !e.value.startsWith('!')));
  if (includes.length > 0) {
    const missing = ['DialBegin', 'DialEnd', 'Hangup'].filter((name) => !includes.some((e) => e.key.includes(`name(${name.toLowerCase()})`) || e.value.toLowerCase().includes(name.toLowerCase())));
    if (missing.length > 0) problems.push(`[${username}]'s eventfilters let ${missing.join(', ')} not through: add \`eventfilter(action(include),name(${missing[0]})) =\` and the other toll-fraud lines of asterisk-conf/manager.d/asterisk-guard.conf`);
  }
  return problems;
}

/**
 * Reads manager.conf (following its #include lines) for the AMI port, bind address, TLS and
 * the secret of `username`. Anything that makes it unusable is an error naming the line to add.
 */
export function readManagerSettings(file: string, username: string, preferTls: boolean | undefined): ManagerSettings {
  let sections: ConfSection[];
  try {
    sections = readAsteriskConf(file);
  } catch (e) {
    if (e instanceof ConfParseError) throw fail(file, e.message);
    throw e;
  }
  const general = sections.filter((s) => s.name === 'general').flatMap((s) => s.entries);
  const enabled = isTrue(last(general, 'enabled')?.value ?? 'no');
  const tlsEnabled = isTrue(last(general, 'tlsenable')?.value ?? 'no');
  if (!enabled && !tlsEnabled) {
    throw fail(file, 'the Asterisk Manager Interface is disabled: add `enabled = yes` under [general], then `asterisk -rx "manager reload"`');
  }
  const useTls = preferTls ?? (!enabled && tlsEnabled);
  if (useTls && !tlsEnabled) throw fail(file, 'ami.tls is on but manager.conf has no `tlsenable = yes` under [general]');
  let host: string;
  let port: number;
  if (useTls) {
    const hp = splitHostPort(last(general, 'tlsbindaddr')?.value ?? '0.0.0.0:5039', 5039);
    host = connectHost(hp.host);
    port = hp.port;
  } else {
    host = connectHost(last(general, 'bindaddr')?.value ?? '0.0.0.0');
    port = Number(last(general, 'port')?.value ?? 5038);
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw fail(file, `AMI port ${port} is not a port number`);
  const users = sections.filter((s) => s.name === username && !s.isTemplate);
  if (users.length === 0) {
    throw fail(
      file,
      `no [${username}] user: add the section from asterisk-conf/manager.d/asterisk-guard.conf ` +
        `(or \`#include manager.d/asterisk-guard.conf\`), set its secret, then \`asterisk -rx "manager reload"\``,
    );
  }
  const entries = users.flatMap((s) => s.entries);
  const where = `[${username}] (${users[0]!.file}:${users[0]!.line})`;
  const secret = last(entries, 'secret');
  if (!secret || secret.value === '') throw fail(file, `${where} has no secret: add \`secret = <a long random string>\``);
  const read = last(entries, 'read');
  if (!read || !hasSecurityRead(read.value)) {
    throw fail(
      file,
      `${where} cannot read security events: ${read ? `change ${read.file}:${read.line} \`read = ${read.value}\` to include security` : 'add `read = security`'}`,
    );
  }
  return { host, port, tls: useTls, username, secret: secret.value };
}
