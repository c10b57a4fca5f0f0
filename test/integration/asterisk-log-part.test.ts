import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import type { AmiPart } from '../../src/parts/ami-part.js';
import { asteriskLogPart, readPosition } from '../../src/parts/asterisk-log-part.js';
import type { Trouble } from '../../src/effects/bus.js';
import { systemClock } from '../../src/time/clock.js';
import { guardHarness } from '../support/guard-harness.js';

// The daemon's asterisk_log part on a real file, its lines as Asterisk 22 writes them to
// messages.log (manager.c, res_pjsip_session.c), the core and the enforcer behind it.
const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

const stamp = () => {
  const d = new Date();
  const mon = d.toLocaleString('en-US', { month: 'short' });
  return `[${mon} ${String(d.getDate()).padStart(2, ' ')} ${d.toTimeString().slice(0, 8)}]`;
};

async function until(what: () => boolean, ms = 4000): Promise<void> {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function setup() {
  const dir = mkdtempSync(path.join(tmpdir(), 'ag-log-part-'));
  dirs.push(dir);
  const file = path.join(dir, 'messages.log');
  writeFileSync(file, `${stamp()} NOTICE[1] res_pjsip_session.c:  anonymous: Call (UDP:203.0.113.10:5060) to extension '011' rejected because extension not found in context 'from-anon'.\n`.repeat(9));
  const yaml = `asterisk_log: { files: [${file}], poll: 100ms }\ncanary: { timeout: 300ms }\nami: { manager_conf: ${dir}/manager.conf }`;
  const h = guardHarness(yaml);
  const config = parseConfig(yaml, 'test');
  const troubles: Trouble[] = [];
  h.bus.on('trouble', (t) => troubles.push(t));
  let canary: ((account: string) => void) | undefined;
  let echoed = true;
  let blind = false;
  const ami = { name: 'ami', client: undefined, onCanary: (l: (a: string) => void) => (canary = l), canaryEchoed: () => echoed, blind: () => blind } as unknown as AmiPart;
  const part = asteriskLogPart(
    { log: createLogger('silent', 'stderr'), clock: systemClock, bus: h.bus, core: h.core, config: () => config },
    { store: h.store, persister: h.persister },
    { name: 'policy', ingest: (f, a) => void h.core.pipeline.ingest(f, a) },
    ami,
  );
  const banned = () => h.fw.committed.flat().map((b): string => b.prefix.text);
  return { file, part, h, troubles, banned, sendCanary: (a: string) => canary!(a), setEchoed: (v: boolean) => (echoed = v), setBlind: (v: boolean) => (blind = v) };
}

describe('asterisk_log part', () => {
  it("bans from what AMI never reports (an anonymous endpoint's calls to nowhere, digest logins), leaves AMI's own to it, and starts at the end", async () => {
    const { file, part, banned, h } = setup();
    await part.start!();
    const lines: string[] = [];
    for (let i = 0; i < 5; i++) {
      lines.push(`${stamp()} NOTICE[556] res_pjsip_session.c:  anonymous: Call (UDP:203.0.113.66:41037) to extension '00972787899${i}' rejected because extension not found in context 'from-anon'.`);
      // A login over AMI's port: AMI reports it; its two lines are not scored again.
      lines.push(`${stamp()} NOTICE[60${i}] manager.c: 198.51.100.7 tried to authenticate with nonexistent user 'admin'`, `${stamp()} NOTICE[60${i}] manager.c: 198.51.100.7 failed to authenticate as 'admin'`);
      // AMI over HTTP digest: no security event, the line alone.
      lines.push(`${stamp()} NOTICE[70${i}] manager.c: 203.0.113.77 tried to authenticate with nonexistent user 'admin${i}'`);
    }
    appendFileSync(file, `${lines.join('\n')}\n`);
    await until(() => banned().includes('203.0.113.66') && banned().includes('203.0.113.77'));
    await part.stop!();
    expect(banned().sort()).toEqual(['203.0.113.66', '203.0.113.77']);
    const status = part.status!() as { asterisk_log: { kinds: Record<string, number> } };
    expect(status.asterisk_log.kinds).toMatchObject({ 'pjsip-extension-not-found': 5, 'reported-by-ami': 5 });
    // Where it stopped is kept: the next start goes on from there.
    await h.clock.advance(1);
    expect(JSON.parse(h.store.cursor(`log:${file}`)!)).toMatchObject({ offset: expect.any(Number) });
  });

  it('scores every kind from the log while AMI is blind, and only what AMI never reports once it sees again (found by the soak)', async () => {
    const { file, part, banned, setBlind } = setup();
    await part.start!();
    const pjsip = (src: string, i: number) => `${stamp()} NOTICE[556] res_pjsip/pjsip_distributor.c: Request 'REGISTER' from '<sip:100${i}@192.0.2.1>' failed for '${src}:5060' (callid: c${i}) - No matching endpoint found`;
    // AMI sees: these are its to report.
    appendFileSync(file, `${Array.from({ length: 6 }, (_, i) => pjsip('203.0.113.40', i)).join('\n')}\n`);
    await new Promise((r) => setTimeout(r, 500));
    expect(banned()).not.toContain('203.0.113.40');
    // `read = security` gone: the log is the only source.
    setBlind(true);
    appendFileSync(file, `${Array.from({ length: 6 }, (_, i) => pjsip('203.0.113.41', i)).join('\n')}\n`);
    await until(() => banned().includes('203.0.113.41'));
    setBlind(false);
    appendFileSync(file, `${Array.from({ length: 6 }, (_, i) => pjsip('203.0.113.42', i)).join('\n')}\n`);
    await new Promise((r) => setTimeout(r, 500));
    await part.stop!();
    expect(banned()).toEqual(['203.0.113.41']);
  });

  it('alerts once when the canary login shows over AMI but not in the log, and again when it is back', async () => {
    const { file, part, troubles, sendCanary } = setup();
    await part.start!();
    sendCanary('asterisk-guard-canary-aaaa');
    await until(() => troubles.length === 1);
    expect(troubles[0]).toMatchObject({ kind: 'asterisk-log-lost', text: expect.stringMatching(/no line for the canary AMI login as asterisk-guard-canary-aaaa.*logger.conf/) });
    sendCanary('asterisk-guard-canary-bbbb');
    await new Promise((r) => setTimeout(r, 450));
    expect(troubles).toHaveLength(1);
    sendCanary('asterisk-guard-canary-cccc');
    appendFileSync(file, `${stamp()} NOTICE[9] manager.c: 127.0.0.1 tried to authenticate with nonexistent user 'asterisk-guard-canary-cccc'\n${stamp()} NOTICE[9] manager.c: 127.0.0.1 failed to authenticate as 'asterisk-guard-canary-cccc'\n`);
    await until(() => troubles.length === 2);
    await part.stop!();
    expect(troubles[1]).toMatchObject({ kind: 'asterisk-log-restored' });
  });

  it('keeps one position write waiting while the disk is full, however often the log is read (found by the soak review)', async () => {
    const { file, part, h } = setup();
    const setCursor = h.store.setCursor.bind(h.store);
    let full = true;
    h.store.setCursor = (...a) => {
      if (full) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
      setCursor(...a);
    };
    await part.start!();
    const read = () => (part.status!() as { asterisk_log: { files: Array<{ lines: number; offset: number }> } }).asterisk_log.files[0]!;
    for (let i = 1; i <= 20; i++) {
      appendFileSync(file, `${stamp()} VERBOSE[${i}] pbx.c: Executing [100@phones:1] NoOp("PJSIP/100-${i}", "") in new stack\n`);
      await until(() => read().lines === i);
      // The persister tries, and the disk refuses.
      await h.clock.advance(100);
    }
    // Before: one write per read waited in memory (20 here; a day of a busy log's reads on a full disk).
    expect(h.persister.pending).toBe(1);
    expect(h.persister.failed).toBeGreaterThan(0);
    full = false;
    await h.clock.advance(100);
    expect(h.persister.pending).toBe(0);
    // What landed is where the follower is now, not where it was when the disk filled.
    expect(JSON.parse(h.store.cursor(`log:${file}`)!)).toMatchObject({ offset: read().offset });
    await part.stop!();
  });

  it('says nothing of the log when the canary did not come over AMI either (the AMI canary alerts)', async () => {
    const { part, troubles, sendCanary, setEchoed } = setup();
    setEchoed(false);
    await part.start!();
    sendCanary('asterisk-guard-canary-dddd');
    await new Promise((r) => setTimeout(r, 450));
    await part.stop!();
    expect(troubles).toEqual([]);
  });
});

describe('readPosition (a followed file position as the store keeps it)', () => {
  it('reads what the follower wrote; anything else reads as none (the file is then followed from its end)', () => {
    const kept = { dev: 2049, ino: 131, offset: 4096, head: 'ab12' };
    expect(readPosition(JSON.stringify(kept))).toEqual(kept);
    for (const bad of [undefined, '', 'not json', '[]', 'null', '{"dev":1,"ino":2,"offset":-1,"head":""}', '{"dev":1,"ino":2,"offset":1.5,"head":""}', '{"dev":1,"ino":2,"offset":3}']) expect(readPosition(bad)).toBeUndefined();
  });
});
