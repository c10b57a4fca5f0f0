import { describe, expect, it } from 'vitest';
import { COMMAND_GROUPS, COMMANDS, usage } from '../../src/command-table.js';
import { ADMIN_CLIENT, printable } from '../../src/control/commands.js';
import { Guard } from '../../src/control/guard.js';
import { requestSchema } from '../../src/control/protocol.js';

const admin = [...COMMANDS.values()].filter((c) => c.admin).map((c) => c.name);

describe('the command table', () => {
  it('names each admin command once for the CLI, the socket protocol and the daemon facade', () => {
    const requests = requestSchema.options.map((o) => o.shape.cmd.value as string);
    const facade = Object.getOwnPropertyNames(Guard.prototype).filter((m) => !['constructor', 'syncAllowed', 'request', 'for', 'viaField'].includes(m));
    expect(Object.keys(ADMIN_CLIENT).sort()).toEqual([...admin].sort());
    expect([...requests].sort()).toEqual([...admin].sort());
    expect([...facade].sort()).toEqual([...admin].sort());
  });

  it('makes the usage text: every command with its arguments, in its group', () => {
    const text = usage('/etc/asterisk-guard/config.yaml');
    for (const c of COMMAND_GROUPS.flat()) expect(text).toMatch(new RegExp(`^  ${[c.name, ...c.args].join(' ')} +${c.help[0]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    expect(text).toContain('(default /etc/asterisk-guard/config.yaml)');
  });
});

describe('human output', () => {
  it('shows control characters escaped, never sends them to the terminal', () => {
    expect(printable('import \u001b]0;owned\u0007 \u001b[2J reason\r\nx\u009b')).toBe('import \\x1b]0;owned\\x07 \\x1b[2J reason\\x0d\\x0ax\\x9b');
    expect(printable('203.0.113.7 until 2026-11-25T06:03:55.621Z brute-force (auto, step 0)')).toBe('203.0.113.7 until 2026-11-25T06:03:55.621Z brute-force (auto, step 0)');
  });
});
