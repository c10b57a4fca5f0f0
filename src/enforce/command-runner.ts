import { execa } from 'execa';
import { GuardError } from '../errors.js';

export interface CommandResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program with an argument array, never through a shell. */
export interface CommandRunner {
  /** Words put before every command (`ip netns exec NS`), for long-lived processes too. */
  readonly prefix: readonly string[];
  run(command: string, args: readonly string[], input?: string): Promise<CommandResult>;
}

export function execaRunner(prefix: readonly string[] = []): CommandRunner {
  return {
    prefix,
    async run(command, args, input) {
      const [file, ...rest] = prefix.length > 0 ? [...prefix, command, ...args] : [command, ...args];
      const result = await execa(file!, rest, {
        input: input ?? '',
        reject: false,
        stripFinalNewline: true,
        timeout: 30_000,
      });
      if (result.failed && result.exitCode === undefined) {
        const missing = (result as { code?: string }).code === 'ENOENT';
        throw new GuardError(
          'AG_ERR_FIREWALL_COMMAND',
          missing
            ? `${command}: command not found; install it (Debian: apt-get install ${command === 'nft' ? 'nftables' : command})`
            : `${command}: ${result.shortMessage}`,
        );
      }
      return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
    },
  };
}

/** Runs commands inside a network namespace (the tests' hosts, or a PBX in a namespace). */
export function netnsRunner(namespace: string): CommandRunner {
  return execaRunner(['ip', 'netns', 'exec', namespace]);
}

export function commandFailure(command: string, args: readonly string[], result: CommandResult): GuardError {
  const detail = (result.stderr || result.stdout).trim().split('\n').slice(0, 6).join(' | ');
  return new GuardError(
    'AG_ERR_FIREWALL_COMMAND',
    `${command} ${args.join(' ')} exited ${result.exitCode}: ${detail || 'no output'}`,
  );
}
