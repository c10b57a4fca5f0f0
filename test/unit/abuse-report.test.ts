import { describe, expect, it } from 'vitest';
import type { Evidence } from '../../src/detect/evidence.js';
import { reportOf } from '../../src/feeds/abuse-report.js';
import type { BanDecision } from '../../src/policy/decision.js';
import { prefix } from '../support/prefix.js';

const evidence = (o: Partial<Evidence> = {}): Evidence => ({
  source: '203.0.113.66',
  trigger: 'burst',
  score: 5,
  slowScore: 5,
  events: { ChallengeResponseFailed: 5 },
  accounts: ['1001', 'ceo-mobile'],
  services: ['PJSIP'],
  firstSeen: Date.parse('2026-12-05T10:00:00Z'),
  lastSeen: Date.parse('2026-12-05T10:00:02Z'),
  ...o,
});

const ban = (o: Partial<BanDecision> = {}): BanDecision => ({
  action: 'ban',
  target: prefix('203.0.113.66'),
  time: Date.parse('2026-12-05T10:00:02Z'),
  durationMs: 3_600_000,
  step: 0,
  reason: 'brute-force',
  origin: 'auto',
  evidence: evidence(),
  note: undefined,
  replaces: false,
  ...o,
});

describe('reportOf', () => {
  it('says what the source did, per service, and nothing of the PBX (no account names)', () => {
    expect(reportOf(ban())).toEqual({ report: { ip: '203.0.113.66', categories: [18], comment: 'SIP brute force against Asterisk: 5 failed authentications in 2 s (asterisk-guard)', timestamp: '2026-12-05T10:00:00.000Z' } });
    const mixed = reportOf(ban({ evidence: evidence({ services: ['AMI', 'IAX2'], events: { InvalidAccountID: 3, FailedACL: 2 }, lastSeen: Date.parse('2026-12-05T10:30:00Z') }) }));
    expect('report' in mixed && mixed.report.comment).toBe('Asterisk Manager (AMI) and IAX2 brute force against Asterisk: 5 failed authentications in 30 min, 3 for accounts that do not exist, 2 refused by ACL (asterisk-guard)');
    for (const r of [reportOf(ban()), mixed]) expect(JSON.stringify(r)).not.toMatch(/1001|ceo-mobile/);
  });

  it('adds VoIP fraud (8) for a toll-fraud source', () => {
    const r = reportOf(ban({ reason: 'toll-fraud' }));
    expect('report' in r && r.report.categories).toEqual([8, 18]);
  });

  it('reports none of: an admin ban, an import, a fleet ban, a range, a private or loopback address', () => {
    for (const d of [ban({ origin: 'cli', reason: 'manual' }), ban({ origin: 'import', reason: 'import' }), ban({ origin: 'fleet', reason: 'fleet' }), ban({ reason: 'range', target: prefix('203.0.113.0/24') }), ban({ target: prefix('10.1.2.3') }), ban({ target: prefix('192.168.1.9') }), ban({ target: prefix('fe80::1') }), ban({ target: prefix('::1') })]) {
      expect(reportOf(d), d.target.text).toHaveProperty('skip');
    }
  });
});
