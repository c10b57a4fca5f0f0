import { execa } from 'execa';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const CLI = new URL('../../dist/src/cli.js', import.meta.url).pathname;
const cli = (...args: string[]) => execa(process.execPath, [CLI, ...args], { reject: false });

// An import file is checked whole before anything is sent: no daemon is needed to refuse one.
describe('asterisk-guard import of a malformed file', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ag-import-'));
  const file = (name: string, text: string) => {
    writeFileSync(path.join(dir, name), text);
    return path.join(dir, name);
  };
  const deep = 200_000;
  const config = file('config.yaml', `ami:\n  secret: x\ncontrol:\n  socket: ${dir}/nobody-listens.sock\n`);

  it.each([
    ['scalars', '{"bans":[1,"2",null,[3]]}', /bans\[0\] is 1, not a ban/],
    ['null in the list', '{"bans":[{"prefix":"203.0.113.5","until":null},null]}', /bans\[1\] is null, not a ban/],
    ['a nested prefix', `{"bans":[{"prefix":${'['.repeat(deep)}${']'.repeat(deep)},"until":null}]}`, /bans\[0\]\.prefix: /],
    ['a bad prefix', '{"bans":[{"prefix":"203.0.113.500","until":null}]}', /bans\[0\]\.prefix: /],
    ['a string until', '{"bans":[{"prefix":"203.0.113.5","until":"soon"}]}', /bans\[0\]\.until: /],
    ['no bans', '[]', /no "bans" array/],
    ['null', 'null', /no "bans" array/],
    ['not JSON', '{"bans":', /cannot import .*: /],
  ])('refuses %s with a coded error and exit 2, sending nothing', async (name, text, message) => {
    const r = await cli('import', file(`${name}.json`, text), '--config', config);
    expect(String(r.stderr)).toMatch(/^asterisk-guard: AG_ERR_CLI_USAGE: cannot import /);
    expect(String(r.stderr)).toMatch(message);
    expect(r.exitCode).toBe(2);
  });
});

// `fraud` takes an action and, for why and clear, an endpoint: refused before any socket is opened.
describe('asterisk-guard fraud with bad arguments', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ag-fraud-'));
  const config = path.join(dir, 'config.yaml');
  writeFileSync(config, `ami:\n  secret: x\ncontrol:\n  socket: ${dir}/nobody-listens.sock\n`);

  it.each([
    [[], /fraud takes list\|why\|clear \[ENDPOINT\]/],
    [['clear'], /usage: asterisk-guard fraud list \| fraud why ENDPOINT \| fraud clear ENDPOINT/],
    [['list', '1003'], /usage: asterisk-guard fraud list/],
    [['drop', '1003'], /usage: asterisk-guard fraud list/],
    [['why', '1003', 'extra'], /fraud takes list\|why\|clear \[ENDPOINT\]/],
  ])('refuses %j with usage and exit 2', async (args, message) => {
    const r = await cli('fraud', ...args, '--config', config);
    expect(String(r.stderr)).toMatch(/AG_ERR_CLI_USAGE/);
    expect(String(r.stderr)).toMatch(message);
    expect(r.exitCode).toBe(2);
  });

  it('says the daemon is not running when the arguments are right', async () => {
    const r = await cli('fraud', 'list', '--config', config);
    expect(r.exitCode).not.toBe(2);
    expect(String(r.stderr)).toMatch(/nobody-listens\.sock/);
  });
});
