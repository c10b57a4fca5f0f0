import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { callRightsProblems, readManagerSettings } from '../../src/ami/manager-conf.js';
import { withTollFraudRights } from '../../lab/asterisk.js';

function confDir(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'ag-manager-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

const SHIPPED = new URL('../../asterisk-conf/', import.meta.url).pathname;

describe('readManagerSettings', () => {
  it('reads the shipped manager.conf through its #include glob', () => {
    const s = readManagerSettings(path.join(SHIPPED, 'manager.conf'), 'asterisk-guard', undefined);
    expect(s).toEqual({ host: '127.0.0.1', port: 5038, tls: false, username: 'asterisk-guard', secret: 'change-me-to-a-long-random-string' });
  });

  it('follows #include and #tryinclude, comments, templates and the last value of a key', () => {
    const dir = confDir({
      'manager.conf': '[general]\nenabled = yes ; on\nport = 5039\nbindaddr = 192.0.2.1\n;-- a block\ncomment --;\n#include "manager_custom.conf"\n#tryinclude missing.conf\n',
      'manager_custom.conf': '[base](!)\nread = system\nsecret = from-template\n\n[asterisk-guard](base)\nread = system,security\nsecret => s3cr\\;et\n',
    });
    const s = readManagerSettings(path.join(dir, 'manager.conf'), 'asterisk-guard', undefined);
    expect(s).toEqual({ host: '192.0.2.1', port: 5039, tls: false, username: 'asterisk-guard', secret: 's3cr;et' });
  });

  it('uses TLS settings when asked, or when only TLS is enabled', () => {
    const dir = confDir({ 'manager.conf': '[general]\nenabled = no\ntlsenable = yes\ntlsbindaddr = 0.0.0.0:5040\n[g]\nsecret=x\nread=all\n' });
    expect(readManagerSettings(path.join(dir, 'manager.conf'), 'g', undefined)).toMatchObject({ tls: true, port: 5040, host: '127.0.0.1' });
  });

  it.each([
    ['[general]\nenabled = no\n[g]\nsecret=x\nread=security\n', /disabled: add `enabled = yes` under \[general\]/],
    ['[general]\nenabled = yes\n', /no \[g\] user: add the section/],
    ['[general]\nenabled = yes\n[g]\nread=security\n', /\[g\] .* has no secret: add `secret = /],
    ['[general]\nenabled = yes\n[g]\nsecret=x\nread = system,call\n', /manager\.conf:5 `read = system,call` to include security/],
    ['[general]\nenabled = yes\n[g]\nsecret=x\n', /add `read = security`/],
    ['[general]\nenabled = yes\nport = http\n[g]\nsecret=x\nread=all\n', /not a port number/],
    ['[general\nenabled = yes\n', /manager\.conf:1: bad section header/],
    ['enabled = yes\n', /before any \[section\]/],
    ['[general]\n#include "does-not-exist.conf"\n', /does-not-exist\.conf:0: cannot read/],
    ['[general]\n#frobnicate\n', /unknown directive/],
  ])('refuses an unusable manager.conf (%#) saying what to change', (text, message) => {
    const dir = confDir({ 'manager.conf': text });
    expect(() => readManagerSettings(path.join(dir, 'manager.conf'), 'g', undefined)).toThrow(message);
  });

  it('refuses a missing manager.conf', () => {
    expect(() => readManagerSettings('/nonexistent/manager.conf', 'g', undefined)).toThrow(/AG_ERR|cannot read/);
  });
});

describe('callRightsProblems (the toll-fraud guard)', () => {
  it('names all three missing pieces in the shipped section, and none once its toll-fraud lines are on', () => {
    const shipped = callRightsProblems(path.join(SHIPPED, 'manager.conf'), 'asterisk-guard');
    expect(shipped).toEqual([
      expect.stringMatching(/asterisk-guard\.conf:\d+ `read = security` lacks call/),
      expect.stringMatching(/asterisk-guard\.conf:\d+ `write = ` lacks system/),
      expect.stringMatching(/let DialBegin, DialEnd, Hangup not through/),
    ]);
    const dir = confDir({
      'manager.conf': readFileSync(path.join(SHIPPED, 'manager.conf'), 'utf8'),
      'manager.d/asterisk-guard.conf': withTollFraudRights(readFileSync(path.join(SHIPPED, 'manager.d/asterisk-guard.conf'), 'utf8')),
    });
    expect(callRightsProblems(path.join(dir, 'manager.conf'), 'asterisk-guard')).toEqual([]);
    expect(readManagerSettings(path.join(dir, 'manager.conf'), 'asterisk-guard', undefined).secret).toBe('change-me-to-a-long-random-string');
  });

  it.each([
    ['read = security\nwrite = system\n', [/read = security` lacks call/]],
    ['read = security,call\nwrite =\n', [/write = ` lacks system: a fraudulent call is neither hung up/]],
    ['read = all\nwrite = call\n', [/write = call` lacks system: fraudulent calls are hung up but the endpoint is not blocked/]],
    ['read = call,security\nwrite = all\neventfilter(action(include),name(InvalidAccountID)) =\neventfilter(action(include),name(DialBegin)) =\n', [/let DialEnd, Hangup not through/]],
    ['read = call,security\n', [/\(no write line\) lacks system/]],
    ['read = all\nwrite = system\neventfilter = Event: InvalidAccountID\n', [/let DialBegin, DialEnd, Hangup not through/]],
  ])('names the line to change: %s', (section, expected) => {
    const dir = confDir({ 'manager.conf': `[general]\nenabled = yes\n[g]\nsecret = x\n${section}` });
    const problems = callRightsProblems(path.join(dir, 'manager.conf'), 'g');
    expect(problems).toHaveLength(expected.length);
    expected.forEach((re, i) => expect(problems[i]).toMatch(re));
  });
});
