import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { FAILURE_KINDS } from '../../src/events/security-event.js';
import { createLogger } from '../../src/log.js';
import { buildCore } from '../../src/core.js';
import { contains, parseIpAddress } from '../../src/net/ip-prefix.js';
import { event } from '../support/events.js';

// Under any sequence of security events: allowed and never-ban addresses are never banned, and
// every ban that is not permanent ends when it says it does.

const log = createLogger('silent', 'stderr');
const ALLOWED = '198.51.100.7';
const SOURCES = ['203.0.113.1', '203.0.113.2', '203.0.113.3', '2001:db8:66::1', '2001:db8:66::2', ALLOWED, '127.0.0.1', '192.0.2.1'];
const SPARED = [ALLOWED, '127.0.0.1', '192.0.2.1'].map((a) => {
  const r = parseIpAddress(a);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
});
const KINDS = [...FAILURE_KINDS, 'SuccessfulAuth', 'ChallengeSent'] as const;

const events = fc.array(
  fc.record({
    source: fc.constantFrom(...SOURCES),
    kind: fc.constantFrom(...KINDS),
    account: fc.constantFrom('1001', '1002', 'admin', '100'),
    gap: fc.integer({ min: 0, max: 20 * 60_000 }),
  }),
  { maxLength: 300 },
);

describe('policy properties', () => {
  it('never bans an allow-listed or never-ban address, whatever the events', () => {
    fc.assert(
      fc.property(events, (seq) => {
        const { policy } = buildCore(parseConfig(`policy: { allow: [${ALLOWED}], ladder: [1m, 10m, permanent] }\ndetect: { decoys: [admin] }`, 'p'), log, { useEventTime: true });
        let t = 0;
        for (const e of seq) {
          t += e.gap;
          for (const d of policy.handle(event(e.kind, e.source, t, { AccountID: e.account }))) {
            // A subnet or range ban is not its members' own: a fresh flood bans the member.
            if (d.action !== 'ban' || d.reason === 'subnet' || (d.reason === 'range' && d.target.length < (d.target.family === 4 ? 32 : 64))) continue;
            for (const spared of SPARED) expect(contains(d.target, spared), `${d.target.text} covers ${spared.text}`).toBe(false);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('lets every non-permanent ban end: the source is scored again after its until', () => {
    fc.assert(
      fc.property(events, (seq) => {
        const { policy } = buildCore(parseConfig('policy: { ladder: [1m, 10m] }', 'p'), log, { useEventTime: true });
        let t = 0;
        const ends = new Map<string, { end: number; source: string }>();
        for (const e of seq) {
          t += e.gap;
          for (const d of policy.handle(event(e.kind, e.source, t, { AccountID: e.account }))) {
            // A subnet or range ban is not its members' own: a fresh flood bans the member.
            if (d.action !== 'ban' || d.reason === 'subnet' || (d.reason === 'range' && d.target.length < (d.target.family === 4 ? 32 : 64))) continue;
            expect(d.durationMs).not.toBeNull();
            ends.set(d.target.text, { end: d.time + d.durationMs!, source: e.source });
          }
        }
        // After the last ban ended, a fresh flood from each source is a fresh ban. The flood comes
        // over TCP: a source may have authenticated since its ban ended (learned trust), and a
        // trusted source's failures count only when the round trip proves them (issue 12).
        const after = Math.max(t, ...[...ends.values()].map((x) => x.end)) + 1;
        for (const [prefix, { source }] of ends) {
          const overTcp = { RemoteAddress: `${source.includes(':') ? 'IPV6' : 'IPV4'}/TCP/${source}/5060` };
          const again = Array.from({ length: 30 }, (_, i) => policy.handle(event('ChallengeResponseFailed', source, after + i, overTcp))).flat();
          expect(again.some((d) => d.action === 'ban' && d.target.text === prefix), `${prefix} stayed banned`).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });
});
