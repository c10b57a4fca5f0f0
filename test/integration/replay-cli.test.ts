import { execa } from 'execa';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const CLI = new URL('../../dist/src/cli.js', import.meta.url).pathname;
const fixture = (name: string) => new URL(`../fixtures/${name}`, import.meta.url).pathname;
const cli = (...args: string[]) => execa(process.execPath, [CLI, ...args], { reject: false });

describe('asterisk-guard replay', () => {
  it('bans 203.0.113.66 and nothing else in the mixed Asterisk 22 capture', async () => {
    const r = await cli('replay', fixture('ami-asterisk22-mixed.raw'));
    expect(r.exitCode).toBe(0);
    const lines = String(r.stdout).trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^ban 203\.0\.113\.66 for 10m reason=brute-force .*events=InvalidAccountID:2,ChallengeResponseFailed:3/);
    expect(String(r.stderr)).toMatch(/replayed 352 events \(ami\), 1 decisions/);
  });

  it('prints one JSON object per decision with --json, same decisions from the security log', async () => {
    const r = await cli('replay', '--json', fixture('asterisk22-security-log.txt'));
    const decisions = String(r.stdout).trim().split('\n').map((l) => JSON.parse(l) as { action: string; target: string; evidence: { events: object } });
    expect(decisions.map((d) => `${d.action} ${d.target}`)).toEqual(['ban 203.0.113.66']);
    expect(decisions[0]!.evidence.events).toEqual({ ChallengeResponseFailed: 5 });
  });

  it('bans the IPv6 attacker by its /64', async () => {
    const r = await cli('replay', fixture('ami-asterisk22-ipv6.raw'));
    expect(String(r.stdout).trim()).toMatch(/^ban 2001:db8:66::\/64 /);
  });

  it('prints one fraud line per judged call of a capture with call events, on the events\' own clock', async () => {
    const { writeConfig } = await import('../support/lab.js');
    const config = writeConfig('fraud:\n  country: GB\n  learning:\n    period: 0s\n    calls: 3\n');
    const r = await cli('replay', '--config', config, fixture('ami-asterisk22-toll-fraud.raw'));
    expect(r.exitCode).toBe(0);
    const fraud = String(r.stdout).split('\n').filter((l) => l.startsWith('fraud '));
    expect(fraud).toEqual([
      expect.stringMatching(/^fraud 1003 verdict=block rules=risky-number,new-source number=09098790000 to=\+449098790000 country=GB kind=premium_rate source=203\.0\.113\.74 banned=yes time=2026-11-26T02:16:21\.251Z$/),
      expect.stringMatching(/^fraud 1003 verdict=block rules=blocked,new-country,new-source number=0037167000000 .*country=LV /),
      expect.stringMatching(/^fraud 1003 verdict=block rules=blocked,risky-number,new-country,new-source number=00881612345678 .*kind=satellite /),
    ]);
    // The phones' usual calls are never judged; the guesser is banned by the brute-force rules first.
    expect(String(r.stdout)).toMatch(/^ban 203\.0\.113\.74 .*reason=brute-force/m);
    // Without a fraud: section, the call events are only counted as unknown.
    const off = await cli('replay', fixture('ami-asterisk22-toll-fraud.raw'));
    expect(String(off.stdout)).not.toMatch(/^fraud /m);
    expect(String(off.stderr)).toMatch(/unknown-event/);
  });

  it('refuses a file that is neither format, and a missing file', async () => {
    const r = await cli('replay', fixture('README.md'));
    expect(r.exitCode).toBe(1);
    expect(String(r.stderr)).toMatch(/AG_ERR_REPLAY_INPUT: .*neither a raw AMI capture/);
    const missing = await cli('replay', '/nonexistent.raw');
    expect(missing.exitCode).toBe(1);
    expect(String(missing.stderr)).toMatch(/AG_ERR_REPLAY_INPUT: cannot read \/nonexistent\.raw/);
  });

  it('answers bad command lines with usage and exit 2', async () => {
    for (const args of [[], ['frobnicate'], ['replay'], ['status', 'extra'], ['run', '--nope']]) {
      const r = await cli(...args);
      expect(r.exitCode, args.join(' ')).toBe(2);
      expect(String(r.stderr)).toMatch(/AG_ERR_CLI_USAGE/);
    }
  });

  it('checks a config and names the bad key and line, exit 3', async () => {
    const { writeConfig } = await import('../support/lab.js');
    const bad = await cli('check-config', '--config', writeConfig('ami:\n  secret: x\ndetect:\n  thresold: 3\n'));
    expect(bad.exitCode).toBe(3);
    expect(String(bad.stderr)).toMatch(/config\.yaml:4: detect\.thresold: unknown key/);
    const good = await cli('check-config', '--config', writeConfig('ami:\n  secret: x\n'));
    expect(good.exitCode).toBe(0);
    expect(String(good.stdout)).toMatch(/config OK: AMI tcp:\/\/127\.0\.0\.1:5038 as asterisk-guard \(settings from config\)/);
  });
});

describe('the command line as a pipe', () => {
  it('ends quietly when the reader has gone (| true, | head): no EPIPE stack trace', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ag-pipe-'));
    // `true` exits without reading, long before node has started: every write meets EPIPE.
    const r = await execa('bash', ['-o', 'pipefail', '-c', `${process.execPath} ${CLI} init --config ${dir}/c.yaml --manager-conf ${dir}/none.conf | true`], { reject: false });
    expect(String(r.stderr)).toBe('');
    expect(r.exitCode).toBe(0);
  });
});
