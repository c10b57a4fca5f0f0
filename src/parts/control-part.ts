import { Guard, guardHandler, type GuardDeps } from '../control/guard.js';
import { ControlServer } from '../control/server.js';
import { changedKeys, type DaemonContext, type Part } from './part.js';

/**
 * The admin socket and the `Guard` facade behind it (the CLI's commands). Listening before any
 * source starts: an admin can unban while the daemon still waits for Asterisk.
 */
export function controlPart(ctx: DaemonContext, deps: Omit<GuardDeps, keyof DaemonContext['core'] | 'clock'>): Part & { readonly guard: Guard } {
  const guard = new Guard({ ...ctx.core, clock: ctx.clock, ...deps });
  const server = new ControlServer(ctx.config().control.socket, guardHandler(guard), ctx.log);
  return {
    name: 'control',
    guard,
    start: () => server.listen(),
    stop: () => server.close(),
    restartOnly: (running, next) => changedKeys(running, next, ['control']),
  };
}
