/**
 * The wait before the next attempt after `failures` failures in a row (1 or more): doubling
 * from `baseMs`, never more than `maxMs`. Every retry loop of the guard (firewall, conntrack,
 * store writes, the AMI connection) waits by this one rule.
 */
export function backoff(failures: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, failures - 1));
}
