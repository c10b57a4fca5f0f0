import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { processRunner } from '../../src/enforce/command-runner.js';

describe('processRunner', () => {
  it('runs a background command (a conntrack walk) below the daemon\'s priority, a foreground one at it', async () => {
    const niceness = async (background: boolean) => Number((await processRunner().run('sh', ['-c', 'sleep 0.2; cut -d" " -f19 /proc/$$/stat'], undefined, undefined, background)).stdout);
    expect(await niceness(false)).toBe(os.getPriority());
    expect(await niceness(true)).toBe(Math.min(19, os.getPriority() + 10));
  });
});

describe('background commands, through the spawner (a Perl process whose forks do not stop the event loop)', () => {
  const bg = (command: string, args: string[], signal?: AbortSignal) => processRunner().run(command, args, undefined, signal, true);

  it('answers each command with its own exit code, output and errors, whatever order they end in', async () => {
    const [slow, fast, failing] = await Promise.all([
      bg('sh', ['-c', 'sleep 0.3; printf "slow\\n"']),
      bg('sh', ['-c', 'printf "tab\\there\\nline two\\n"; printf "to stderr" >&2']),
      bg('sh', ['-c', 'exit 3']),
    ]);
    expect(slow).toEqual({ exitCode: 0, stdout: 'slow', stderr: '' });
    expect(fast).toEqual({ exitCode: 0, stdout: 'tab\there\nline two', stderr: 'to stderr' });
    expect(failing.exitCode).toBe(3);
  });

  it('passes arguments as they are (spaces, quotes, non-ASCII), never through a shell', async () => {
    const r = await bg('printf', ['%s|', "a b", "it's", '$(id)', 'é']);
    expect(r.stdout).toBe("a b|it's|$(id)|é|");
  });

  it('kills a command whose signal aborts, and says so; names a program that is missing', async () => {
    const abort = new AbortController();
    const running = bg('sleep', ['10'], abort.signal);
    setTimeout(() => abort.abort(), 50);
    expect(await running).toEqual({ exitCode: -1, stdout: '', stderr: 'aborted' });
    await expect(bg('no-such-program-here', [])).rejects.toThrow(/no-such-program-here: command not found/);
  });
});
