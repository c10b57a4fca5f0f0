import type { Logger } from 'pino';
import type { Clock } from '../time/clock.js';
import { atLeast, type Alert } from './alert.js';
import type { Channel, Message } from './channels.js';

export interface NotifierOptions {
  /** Fleet mode: this node's name, in every alert. */
  readonly node?: string | undefined;
  /** During a wave of bans, a channel gets at most one digest per this interval. */
  readonly digestIntervalMs: number;
  /** Delays between delivery attempts; the length is the number of retries. */
  readonly retryDelaysMs: readonly number[];
  readonly clock: Clock;
}

/** How many bans a digest names one by one; the rest are counted. */
const DIGEST_LISTED = 50;

interface ChannelState {
  readonly channel: Channel;
  /** Bans waiting for the next digest. */
  pending: Alert[];
  /** When this channel last sent a ban (alone or in a digest). */
  lastBanAt: number;
  cancelDigest: (() => void) | undefined;
  /** Deliveries go out one at a time per channel, in order. */
  queue: Promise<void>;
}

const isBan = (a: Alert) => a.kind === 'ban' || a.kind === 'subnet-ban';

/**
 * Delivers alerts to every channel whose minimum severity they reach. The first ban goes out
 * at once; during a wave, the next ones wait for a digest, at most one per interval per
 * channel, so 10,000 bans are a handful of messages. Other alerts go out at once. Failed
 * deliveries are retried with backoff; one failing channel never holds up the others, and
 * nothing here ever holds up a ban (it is called after the kernel has it).
 */
export class Notifier {
  private states: ChannelState[] = [];
  readonly stats = { sent: 0, failed: 0 };

  constructor(
    channels: readonly Channel[],
    private readonly log: Logger,
    private readonly options: NotifierOptions,
  ) {
    this.setChannels(channels);
  }

  /** The channels of a reloaded config; alerts already queued on the old ones still go out. */
  setChannels(channels: readonly Channel[]): void {
    for (const s of this.states) if (s.pending.length > 0) this.sendDigest(s);
    this.states = channels.map((channel) => ({ channel, pending: [], lastBanAt: -Infinity, cancelDigest: undefined, queue: Promise.resolve() }));
  }

  notify(given: Alert): void {
    // In a fleet, every alert says which PBX saw or decided it: an admin of 50 reads one mailbox.
    const node = this.options.node;
    const alert = node === undefined ? given : { ...given, title: given.title.replace(/^asterisk-guard:/, `asterisk-guard@${node}:`), lines: [...given.lines, `node: ${node}`] };
    for (const s of this.states) {
      if (!atLeast(alert.severity, s.channel.minSeverity)) continue;
      if (!isBan(alert)) {
        this.deliver(s, { subject: alert.title, lines: alert.lines, alerts: [alert] });
        continue;
      }
      const now = this.options.clock.now();
      if (s.pending.length === 0 && now - s.lastBanAt >= this.options.digestIntervalMs) {
        s.lastBanAt = now;
        this.deliver(s, { subject: alert.title, lines: alert.lines, alerts: [alert] });
        continue;
      }
      s.pending.push(alert);
      if (!s.cancelDigest) s.cancelDigest = this.options.clock.after(Math.max(0, s.lastBanAt + this.options.digestIntervalMs - now), () => this.sendDigest(s));
    }
  }

  /** Sends the digests still waiting and waits for every delivery in flight (shutdown). */
  async flush(): Promise<void> {
    for (const s of this.states) if (s.pending.length > 0) this.sendDigest(s);
    await Promise.all(this.states.map((s) => s.queue));
  }

  private sendDigest(s: ChannelState): void {
    s.cancelDigest?.();
    s.cancelDigest = undefined;
    const alerts = s.pending;
    s.pending = [];
    if (alerts.length === 0) return;
    s.lastBanAt = this.options.clock.now();
    const listed = alerts.slice(0, DIGEST_LISTED).map((a) => a.lines[0]!);
    const more = alerts.length - listed.length;
    this.deliver(s, {
      subject: `asterisk-guard: ${alerts.length} more bans`,
      lines: [`${alerts.length} more bans since the last message:`, ...listed, ...(more > 0 ? [`... and ${more} more (asterisk-guard list)`] : [])],
      alerts,
    });
  }

  private deliver(s: ChannelState, message: Message): void {
    s.queue = s.queue.then(() => this.attempt(s.channel, message));
  }

  private async attempt(channel: Channel, message: Message): Promise<void> {
    const delays = this.options.retryDelaysMs;
    for (let i = 0; ; i++) {
      try {
        await channel.send(message);
        this.stats.sent++;
        return;
      } catch (e) {
        if (i >= delays.length) {
          this.stats.failed++;
          this.log.error({ err: e, channel: channel.name, subject: message.subject, attempts: i + 1 }, 'alert not delivered; giving up on this message');
          return;
        }
        this.log.warn({ channel: channel.name, error: (e as Error).message, retry_in_ms: delays[i] }, 'alert delivery failed; retrying');
        await this.options.clock.sleep(delays[i]!);
      }
    }
  }
}
