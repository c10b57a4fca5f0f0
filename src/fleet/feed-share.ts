import { createClient } from 'redis';
import type { Config } from '../config/schema.js';
import { redisClientOptions } from './redis-options.js';

// A fleet pulls each feed once (issue 26): the node that takes a feed's lock for the interval
// pulls it and leaves the list in Redis; the others read it there. The list read back is
// untrusted text like any entry in Redis: each node parses it and admits it through its own
// checks. With Redis out of reach a node pulls for itself: the service then sees one pull per
// node, as without a fleet, and no node goes without its list.

const LOCK = (feed: string) => `asterisk-guard:{fleet}:feed:${feed}:lock`;
const LIST = (feed: string) => `asterisk-guard:{fleet}:feed:${feed}:list`;
/** The list stays in Redis this long after its last pull (APIBAN's entries end after 7 days too). */
const LIST_KEEP_MS = 7 * 86_400_000;
const COMMAND_TIMEOUT_MS = 5000;

export interface SharedList {
  /** When the puller published it (its clock): a node adopts each version once. */
  readonly stamp: string;
  readonly list: string;
}

export interface FeedShare {
  /** Is this node the one to pull `feed` now? Yes when it took (or holds) the lock for `forMs`, or when Redis cannot say. */
  claim(feed: string, forMs: number): Promise<boolean>;
  /** The list the puller left; undefined when there is none or Redis cannot say. */
  read(feed: string): Promise<SharedList | undefined>;
  publish(feed: string, list: SharedList): Promise<void>;
  close(): Promise<void>;
}

export function redisFeedShare(fleet: NonNullable<Config['fleet']>): FeedShare {
  // No offline queue: a command Redis did not take at once fails, and is not sent minutes later
  // (a lock taken long after this node gave up on it and pulled alone).
  const client = createClient({ ...redisClientOptions(fleet), disableOfflineQueue: true });
  // Each call says for itself what failed (it pulls alone); the link's own log says Redis is gone.
  client.on('error', () => {});
  let connecting: Promise<unknown> | undefined;
  const send = async (args: string[]): Promise<unknown> => {
    connecting ??= client.connect().catch(() => undefined);
    await within(connecting);
    if (!client.isReady) throw new Error('Redis not reachable');
    return within(client.sendCommand(args));
  };
  return {
    async claim(feed, forMs) {
      try {
        if ((await send(['SET', LOCK(feed), fleet.node, 'NX', 'PX', String(Math.max(1000, Math.round(forMs)))])) === 'OK') return true;
        return (await send(['GET', LOCK(feed)])) === fleet.node;
      } catch {
        return true;
      }
    },
    async read(feed) {
      try {
        const text = await send(['GET', LIST(feed)]);
        if (typeof text !== 'string') return undefined;
        const nl = text.indexOf('\n');
        return nl === -1 ? undefined : { stamp: text.slice(0, nl), list: text.slice(nl + 1) };
      } catch {
        return undefined;
      }
    },
    async publish(feed, shared) {
      try {
        await send(['SET', LIST(feed), `${shared.stamp}\n${shared.list}`, 'PX', String(LIST_KEEP_MS)]);
      } catch {
        // The others keep the list they had, and read this one at the next pull.
      }
    },
    async close() {
      if (client.isOpen) client.destroy();
    },
  };
}

/** The answer, or an error once COMMAND_TIMEOUT_MS passed (a reconnecting client never answers). */
async function within<T>(p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('Redis did not answer')), COMMAND_TIMEOUT_MS)))]);
  } finally {
    clearTimeout(timer);
  }
}
