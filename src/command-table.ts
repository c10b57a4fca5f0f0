/**
 * Every command of the CLI, once: its arguments, options and help. The usage text is made
 * from it, the CLI checks arguments by it, and the admin commands (sent to the daemon's
 * socket, one request each) are the ones marked `admin`; the socket's requests (protocol.ts)
 * and the daemon's facade (control/guard.ts) use the same names.
 */
export interface CommandSpec {
  readonly name: string;
  /** The positional arguments, in the usage's words (`PREFIX`, `FILE`). */
  readonly args: readonly string[];
  readonly help: readonly string[];
  /** Sent to the running daemon over its admin socket. */
  readonly admin: boolean;
}

const spec = (name: string, args: readonly string[], admin: boolean, ...help: string[]): CommandSpec => ({ name, args, help, admin });

export const COMMAND_GROUPS: ReadonlyArray<readonly CommandSpec[]> = [
  [
    spec('run', [], false, 'the daemon: AMI security events -> scores -> nftables drop'),
    spec('replay', ['FILE...'], false, "decide on a raw AMI capture or Asterisk's own logs (messages, full, security, syslog, journal; .gz rotations in time order): dry run;", 'one line per decision (or one JSON object with --json), a summary per line kind'),
    spec('check-config', [], false, 'validate the config file and print the AMI settings it leads to'),
  ],
  [
    spec('init', [], false, 'write the sample config (never over an existing one) and show the', "manager.conf section to add; offers to write it to manager.d/", '[--yes] [--manager-conf FILE]'),
    spec('install-service', [], false, 'put the systemd unit in place, create the asterisk-guard user', '[--unit-dir DIR] [--no-user]'),
    spec('doctor', [], false, 'check everything the daemon needs, one line each with the fix;', 'exit 0 only when all pass [--json] [--send-test]'),
    spec('uninstall', [], false, "remove asterisk-guard's nft table (bans stop) and nothing else"),
  ],
  [
    spec('status', [], true, 'is the daemon connected to AMI, events per second, bans, last decision'),
    spec('list', [], true, 'the bans in force'),
    spec('ban', ['PREFIX'], true, 'ban an address or CIDR now [--for 1h|permanent] [--reason TEXT]', '[--force: wider than policy.widest_ban, /16 or /32 by default]'),
    spec('unban', ['PREFIX'], true, 'lift a ban, in the kernel and the store; in a fleet on every node', '[--local: on this node only]'),
    spec('why', ['ADDRESS'], true, 'its scores, accounts tried, bans, decisions and trust'),
    spec('allow', ['PREFIX'], true, 'never score or ban it (kept in the store)'),
    spec('disallow', ['PREFIX'], true, 'take it off the runtime allow-list'),
    spec('export', [], true, 'the bans in force as JSON, for import elsewhere'),
    spec('import', ['FILE'], true, 'ban what an export lists (progress on stderr)'),
    spec('web-url', [], true, 'a one-time login URL for the web page (web.enabled: true), valid 10 minutes'),
    spec('fraud', ['list|why|clear', '[ENDPOINT]'], true, 'the toll-fraud guard: endpoints, their baselines and blocks;', 'why ENDPOINT: its baseline and last verdicts; clear ENDPOINT: lift its block'),
  ],
];

export const COMMANDS: ReadonlyMap<string, CommandSpec> = new Map(COMMAND_GROUPS.flat().map((c) => [c.name, c]));

export function usage(defaultConfigPath: string): string {
  const lines = ['usage: asterisk-guard COMMAND [options]', '', 'commands:'];
  for (const group of COMMAND_GROUPS) {
    for (const c of group) {
      const head = `  ${[c.name, ...c.args].join(' ')}`;
      const [first, ...more] = c.help;
      lines.push(`${head.padEnd(23)}${first}`, ...more.map((l) => `${' '.repeat(23)}${l}`));
    }
    lines.push('');
  }
  lines.push(
    'options:',
    `  --config FILE        config file (default ${defaultConfigPath})`,
    "  --socket PATH        the daemon's admin socket (default: control.socket of the config)",
    '  --json               JSON output (replay: one object per line)',
    '  -h, --help           this text',
    '  -v, --version        the version',
    '',
    'exit codes: 0 ok, 1 runtime failure, 2 bad command line, 3 bad config or manager.conf',
  );
  return lines.join('\n');
}
