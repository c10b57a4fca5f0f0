import type { Logger } from 'pino';
import { parseIpAddress, type IpPrefix } from '../net/ip-prefix.js';
import { PrefixList } from '../net/prefix-list.js';
import { ariError, type AriSettings } from './settings.js';

interface Channel {
  readonly id: string;
  readonly name: string;
}

/** `203.0.113.66:5060`, `[2001:db8::1]:5060`: what CHANNEL(pjsip,remote_addr) gives. */
export function remoteAddressOf(value: string): IpPrefix | undefined {
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(value);
  const host = v6 ? v6[1]! : value.includes('.') ? value.split(':')[0]! : value;
  const parsed = parseIpAddress(host);
  return parsed.ok ? parsed.value : undefined;
}

/**
 * Hangs up the live calls of a banned source through ARI's REST API (Node's fetch: see
 * docs/decisions.md on ari-client). ARI's channel objects do not carry the peer address, so
 * each PJSIP channel is asked for CHANNEL(pjsip,remote_addr).
 */
export class CallHangup {
  private readonly auth: string;

  constructor(
    private readonly settings: AriSettings,
    private readonly log: Logger,
  ) {
    this.auth = `Basic ${Buffer.from(`${settings.username}:${settings.password}`).toString('base64')}`;
  }

  /**
   * Asks ARI for Asterisk's system info: tells the admin at start whether hang-ups can work,
   * and loads Node's HTTP client (undici) now. Loaded at the first ban instead, it held the
   * event loop for 50 ms in the middle of a swarm (found in the lab's CPU profile): every
   * millisecond two more guesses.
   */
  async check(): Promise<void> {
    await this.call('GET', '/asterisk/info?only=system');
  }

  /** Hangs up the calls from any of the prefixes (one channel listing for all); returns the channels' names. */
  async hangupFrom(prefixes: readonly IpPrefix[]): Promise<string[]> {
    const banned = new PrefixList(prefixes);
    const channels = (await this.call('GET', '/channels')) as Channel[];
    const hung: string[] = [];
    await Promise.all(
      channels
        .filter((c) => c.name.startsWith('PJSIP/'))
        .map(async (c) => {
          const v = (await this.call('GET', `/channels/${encodeURIComponent(c.id)}/variable?variable=${encodeURIComponent('CHANNEL(pjsip,remote_addr)')}`).catch(() => undefined)) as { value?: string } | undefined;
          const remote = v?.value ? remoteAddressOf(v.value) : undefined;
          if (!remote || banned.match(remote) === undefined) return;
          await this.call('DELETE', `/channels/${encodeURIComponent(c.id)}?reason=congestion`);
          hung.push(c.name);
        }),
    );
    const from = prefixes.map((p) => p.text).join(', ');
    if (hung.length > 0) this.log.info({ prefixes: from, channels: hung }, `hung up ${hung.length} live call(s) from ${from}`);
    return hung;
  }

  private async call(method: 'GET' | 'DELETE', path: string): Promise<unknown> {
    let response: Response;
    try {
      response = await fetch(`${this.settings.url}${path}`, { method, headers: { authorization: this.auth }, signal: AbortSignal.timeout(5000) });
    } catch (e) {
      throw ariError(`ARI ${method} ${path} at ${this.settings.url}: ${(e as Error).cause ? String((e as Error & { cause: Error }).cause.message) : (e as Error).message}`);
    }
    if (!response.ok) throw ariError(`ARI ${method} ${path}: ${response.status} ${(await response.text()).slice(0, 200)}`);
    return response.status === 204 ? undefined : response.json();
  }
}
