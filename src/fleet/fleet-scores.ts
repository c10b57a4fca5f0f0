import type { Logger } from 'pino';
import { createClient, type RedisClientOptions } from 'redis';
import type { IpPrefix } from '../net/ip-prefix.js';

/**
 * One atomic step per failure: decay the source's fleet-wide score to now, add the failure's
 * weight, and say whether it reached the threshold (then forget it: the ban follows). Kept in
 * a hash per range, so an address and its range share a Redis Cluster slot.
 */
export const SCORE_STEP = `
local now = tonumber(ARGV[3])
local score = 0
local held = redis.call('HGET', KEYS[1], ARGV[1])
if held then
  local s, last = string.match(held, '^(%S+) (%S+)$')
  if s then score = tonumber(s) * math.exp(-math.max(0, now - tonumber(last)) * 0.6931471805599453 / tonumber(ARGV[4])) end
end
score = score + tonumber(ARGV[2])
if score >= tonumber(ARGV[5]) then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return 1
end
redis.call('HSET', KEYS[1], ARGV[1], string.format('%.4f %d', score, now))
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return 0
`;

export interface FleetScoresOptions {
  readonly redis: RedisClientOptions;
  readonly halfLifeMs: number;
  readonly threshold: number;
  /** A source whose fleet-wide score reached the threshold, from this node's failure. */
  readonly onReached: (key: IpPrefix, range: IpPrefix) => void;
}

/** Failures in flight at most: when Redis is slow, the local score decides alone. */
const MAX_IN_FLIGHT = 1000;

/**
 * Shared scores: each failure a node scores (and does not ban on its own) also counts on a
 * fleet-wide score in Redis; whichever node sees it reach the threshold bans, and the ban goes
 * to every node. Off the event path: the step is sent and its answer handled later; the local
 * score still decides alone, whatever Redis does.
 */
export class FleetScores {
  private readonly client: ReturnType<typeof createClient>;
  private inFlight = 0;
  readonly stats = { sent: 0, reached: 0, skipped: 0, failed: 0 };

  constructor(
    private readonly o: FleetScoresOptions,
    private readonly log: Logger,
  ) {
    this.client = createClient({ ...o.redis, disableOfflineQueue: true });
    this.client.on('error', () => {});
  }

  get ready(): boolean {
    return this.client.isReady;
  }

  start(): void {
    void this.client.connect().catch(() => {});
  }

  async stop(): Promise<void> {
    if (this.client.isOpen) this.client.destroy();
  }

  /** One failure of `key` (inside `range`), of this weight, at wall-clock `now`. */
  record(key: IpPrefix, range: IpPrefix, weight: number, now: number): void {
    if (!this.client.isReady || this.inFlight >= MAX_IN_FLIGHT) {
      this.stats.skipped++;
      return;
    }
    this.inFlight++;
    this.stats.sent++;
    const hash = `asterisk-guard:{${range.text}}:scores`;
    this.client
      .sendCommand(['EVAL', SCORE_STEP, '1', hash, key.text, String(weight), String(Math.round(now)), String(this.o.halfLifeMs), String(this.o.threshold), String(Math.ceil(this.o.halfLifeMs * 10))])
      .then(
        (reached) => {
          if (Number(reached) === 1) {
            this.stats.reached++;
            this.o.onReached(key, range);
          }
        },
        (e: Error) => {
          if (this.stats.failed++ === 0) this.log.warn({ err: e }, `fleet: a shared score step failed (the local score decides alone): ${e.message}`);
        },
      )
      .finally(() => this.inFlight--);
  }
}
