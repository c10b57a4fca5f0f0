import { describe, expect, it } from 'vitest';
import { formatReport, runSoak } from '../../lab/soak.js';

// The chaos soak's short run (issue 28): the fleet lab, phones, attack waves and a fixed fault
// schedule (seed 267: the webhook down, the conntrack table full, the state database deleted,
// the small disk full during a toll-fraud wave, in that order), so CI keeps it working.

describe('the chaos soak, short', () => {
  it('takes two minutes of faults under attack: nothing lost, every fault told, the phones unharmed', async () => {
    const story: string[] = [];
    const report = await runSoak({ minutes: 2, seed: 267, say: (l) => story.push(l), cacheDir: process.env['AG_LAB_CACHE'] });
    const text = `${formatReport(report).join('\n')}\n\nthe run:\n${story.join('\n')}`;
    expect(report.runs.length, text).toBeGreaterThanOrEqual(4);
    expect(report.runs.map((r) => r.fault).slice(0, 4), text).toEqual(['webhook-down', 'conntrack-full', 'store-delete', 'disk-full']);
    expect(report.phones.registrations, text).toBeGreaterThan(10);
    expect(report.bans.inForce, text).toBeGreaterThan(0);
    expect(report.verdict, text).toEqual({ ok: true, problems: [] });
  }, 900_000);
});
