import { buildHangup } from '../ari/build-hangup.js';
import { hangUpCalls } from '../effects/hang-up-calls.js';
import { changedKeys, type DaemonContext, type Part } from './part.js';

/** ARI: the live calls of a banned source are hung up (an `ari:` section turns it on). */
export function ariPart(ctx: DaemonContext): Part {
  const { log, bus } = ctx;
  const hangup = buildHangup(ctx.config(), log);
  if (hangup) hangUpCalls(bus, hangup, log);
  return {
    name: 'ari',
    async start() {
      hangup?.check().then(
        () => log.info('ARI answers: live calls of banned sources will be hung up'),
        (e: unknown) => log.warn({ err: e }, `ARI does not answer yet (tried again at each ban): ${(e as Error).message}`),
      );
    },
    restartOnly: (running, next) => changedKeys(running, next, ['ari']),
  };
}
