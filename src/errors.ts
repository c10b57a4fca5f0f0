// Every error an admin may see has a stable code, a message saying what to do, and an entry in
// docs/errors.md (a test keeps the two in step).

export const ERROR_CODES = {
  AG_ERR_CONFIG_READ: 'cannot read the config file',
  AG_ERR_CONFIG_YAML: 'the config file is not valid YAML',
  AG_ERR_CONFIG_INVALID: 'a config key is unknown or has a bad value',
  AG_ERR_CONFIG_ENV: 'a config value names an environment variable that is not set',
  AG_ERR_MANAGER_CONF: 'Asterisk manager.conf cannot be used for the AMI connection',
  AG_ERR_AMI_AUTH: 'Asterisk refused the AMI login',
  AG_ERR_STORE_CORRUPT: 'the state database cannot be opened or read',
  AG_ERR_STORE_ACCESS: 'the state database or its directory is not writable by the daemon',
  AG_ERR_STORE_WRITE: 'a write to the state database failed (it is retried)',
  AG_ERR_CONTROL_REQUEST: 'the admin socket refused a request',
  AG_ERR_CONTROL_CONNECT: 'cannot reach the daemon on its admin socket',
  AG_ERR_ARI_REQUEST: "an ARI request (hanging up a banned source's calls) failed",
  AG_ERR_FIREWALL_COMMAND: 'a firewall command (nft or conntrack) failed',
  AG_ERR_REPLAY_INPUT: 'the replay input cannot be read',
  AG_ERR_CLI_USAGE: 'the command line is not valid',
  AG_ERR_ALREADY_RUNNING: 'another asterisk-guard daemon runs with this control socket',
  AG_ERR_INSTANCE_LOCK: "the daemon's pid file beside the control socket cannot be created",
  AG_ERR_WEB_REFUSED: 'the web page refused a request that is not logged in, names another host, or changes from another site',
  AG_ERR_WEB_REQUEST: 'the web page could not do what a request asked (a malformed value, or nothing to change)',
  AG_ERR_WEB_INTERNAL: 'the web page failed on a request (the daemon log says why)',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class GuardError extends Error {
  override readonly name = 'GuardError';

  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isGuardError(e: unknown, code?: ErrorCode): e is GuardError {
  return e instanceof GuardError && (code === undefined || e.code === code);
}
