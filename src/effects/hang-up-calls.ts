import type { Logger } from 'pino';
import type { CallHangup } from '../ari/hangup.js';
import type { IpPrefix } from '../net/ip-prefix.js';
import type { DecisionBus } from './bus.js';

/**
 * A banned source's live calls end with its ban (ARI). Bans committed together (a wave, an
 * import of thousands) share one channel listing: one ARI round at a time, whatever the wave.
 */
export function hangUpCalls(bus: DecisionBus, hangup: CallHangup, log: Logger): void {
  let pending: IpPrefix[] = [];
  let scheduled = false;
  const run = async () => {
    while (pending.length > 0) {
      const prefixes = pending;
      pending = [];
      await hangup.hangupFrom(prefixes).catch((e: unknown) => log.error({ err: e, prefixes: prefixes.length }, 'could not hang up the calls of banned sources'));
    }
    scheduled = false;
  };
  bus.on('committed', (d) => {
    pending.push(d.target);
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => void run());
  });
}
