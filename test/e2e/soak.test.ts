import { describe, expect, it } from 'vitest';
import { formatReport, runSoak } from '../../lab/soak.js';

// The chaos soak's short run (issue 28): the fleet lab, phones, attack waves and a fixed fault
// schedule (seed 119: Asterisk restarted during a toll-fraud wave, the conntrack table full, our
// table deleted, the state database replaced, in that order), so CI keeps it working. Seed 267
// (a full disk, then its guard SIGKILLed) loses the bans whose record waited in memory: an open
// defect (docs/reliability.md, finding 7), reproduced with `npm run soak -- --minutes 2 --seed 267`.

describe('the chaos soak, short', () => {
  it('takes two minutes of faults under attack: nothing lost, every fault told, the phones unharmed', async () => {
    const story: string[] = [];
    const report = await runSoak({ minutes: 2, seed: 119, say: (l) => story.push(l), cacheDir: process.env['AG_LAB_CACHE'] });
    const text = `${formatReport(report).join('\n')}\n\nthe run:\n${story.join('\n')}`;
    expect(report.runs.length, text).toBeGreaterThanOrEqual(4);
    expect(report.runs.map((r) => r.fault).slice(0, 4), text).toEqual(['asterisk-restart', 'conntrack-full', 'table-delete', 'store-replace']);
    expect(report.phones.registrations, text).toBeGreaterThan(10);
    expect(report.bans.inForce, text).toBeGreaterThan(0);
    expect(report.verdict, text).toEqual({ ok: true, problems: [] });
  }, 900_000);
});
