import type { Fields } from './fields.js';

// `[Nov 25 06:02:18] SECURITY[19048] res_security_log.c: SecurityEvent="ChallengeResponseFailed",EventTV="...",...`
// Asterisk writes the values unescaped, so a value ends only where `",Key="` or the line ends.
const PAIR = /([A-Za-z]+)="(.*?)"(?=,[A-Za-z]+="|\s*$)/g;

/** Fields of one security-log line, named as AMI names them (SecurityEvent becomes Event). */
export function parseSecurityLogLine(line: string): Fields | undefined {
  const at = line.indexOf('SecurityEvent="');
  if (at === -1) return undefined;
  const fields = Object.create(null) as Fields;
  for (const m of line.slice(at).matchAll(PAIR)) {
    const key = m[1] === 'SecurityEvent' ? 'Event' : m[1]!;
    if (fields[key] === undefined) fields[key] = m[2]!;
  }
  return fields['Event'] === undefined ? undefined : fields;
}
