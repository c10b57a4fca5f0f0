import { describe, expect, it } from 'vitest';
import { Canary } from '../../src/ami/canary.js';
import { ManualClock } from '../support/manual-clock.js';

function setup(intervalMs = 300_000) {
  const clock = new ManualClock();
  const sent: string[] = [];
  const said: string[] = [];
  const canary = new Canary({
    clock,
    intervalMs,
    timeoutMs: 15_000,
    provoke: async (account) => void sent.push(account),
    onMissing: (account) => said.push(`missing ${account}`),
    onRestored: () => said.push('restored'),
  });
  return { clock, sent, said, canary };
}

describe('Canary', () => {
  it('logs in as a new impossible account every interval and takes its event as the echo, not to be scored', async () => {
    const { clock, sent, said, canary } = setup();
    canary.start();
    await clock.advance(300_000);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatch(/^asterisk-guard-canary-[0-9a-f]{12}$/);
    expect(canary.echo('1001')).toBe(false);
    await clock.advance(800);
    expect(canary.echo(sent[0])).toBe(true);
    expect(canary.last).toMatchObject({ ok: true, echoMs: 800 });
    expect(canary.awaiting).toBe(false);
    await clock.advance(300_000);
    expect(sent).toHaveLength(2);
    expect(sent[1]).not.toBe(sent[0]);
    expect(said).toEqual([]);
    canary.stop();
  });

  it('says once that the guard is blind when no echo comes, and once when events are back', async () => {
    const { clock, sent, said, canary } = setup();
    canary.start();
    await clock.advance(300_000 + 15_000);
    expect(said).toEqual([`missing ${sent[0]}`]);
    expect(canary.last).toMatchObject({ ok: false, echoMs: null });
    // A late echo of a canary given up on is just an event.
    expect(canary.echo(sent[0])).toBe(false);
    // The next canary (at 600 s) fails too: still one alert for the spell.
    await clock.advance(300_000);
    expect(sent).toHaveLength(2);
    expect(said).toHaveLength(1);
    await clock.advance(285_000 + 1000);
    expect(sent).toHaveLength(3);
    expect(canary.echo(sent[2])).toBe(true);
    expect(said).toEqual([`missing ${sent[0]}`, 'restored']);
    canary.stop();
  });

  it('says the guard is blind with an interval shorter than the timeout (each canary waits its own timeout)', async () => {
    // canary: { interval: 10s } with the default 15 s timeout: a new canary used to cancel the
    // one still waiting, so none ever timed out.
    const { clock, sent, said, canary } = setup(10_000);
    canary.start();
    await clock.advance(10_000 + 15_000);
    expect(sent).toHaveLength(2);
    expect(said).toEqual([`missing ${sent[0]}`]);
    expect(canary.last).toMatchObject({ ok: false });
    await clock.advance(60_000);
    expect(said).toHaveLength(1);
    canary.stop();
  });

  it('with a short interval, echoes of overlapping canaries are each recognised and nothing is missing', async () => {
    const { clock, sent, said, canary } = setup(10_000);
    canary.start();
    await clock.advance(20_000);
    expect(sent).toHaveLength(2);
    // Both await at once; the older one's echo comes after the newer was sent.
    expect(canary.echo(sent[0])).toBe(true);
    expect(canary.awaiting).toBe(true);
    expect(canary.echo(sent[1])).toBe(true);
    expect(canary.awaiting).toBe(false);
    for (let i = 0; i < 6; i++) {
      await clock.advance(10_000);
      expect(canary.echo(sent.at(-1))).toBe(true);
    }
    expect(said).toEqual([]);
    expect(canary.last).toMatchObject({ ok: true });
    canary.stop();
  });
});
