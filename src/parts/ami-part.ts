import { randomBytes } from 'node:crypto';
import { Canary, type CanaryState } from '../ami/canary.js';
import { AmiClient } from '../ami/client.js';
import type { resolveAmiOptions } from '../ami/settings.js';
import type { Config } from '../config/schema.js';
import { changedKeys, type DaemonContext, type MetricFamily, type Part, type PartCheck } from './part.js';
import type { PolicyPart } from './policy-part.js';

export interface AmiPartOptions {
  /** Fired before the first AMI login: the start gives up waiting for it. */
  readonly stopping?: AbortSignal | undefined;
  /** What the daemon is doing, for the service manager (systemd's STATUS). */
  readonly onStatus: (text: string) => void;
}

export interface AmiPart extends Part {
  /** For parts that act through AMI (the toll-fraud guard) or hear of its connection. */
  readonly client: AmiClient;
  /**
   * Each canary login as it is sent, and later whether Asterisk reported it over AMI: the
   * same refused login writes a NOTICE line to Asterisk's log, the log part's own canary.
   */
  onCanary(listener: (account: string) => void): void;
  canaryEchoed(account: string): boolean;
  /**
   * Security events do not arrive over AMI now: not connected, or the last canary went
   * unreported and no security event came since (`read = security` removed, an eventfilter).
   */
  blind(): boolean;
}

/**
 * The AMI source: security (and, with the toll-fraud guard, call) events into the policy, and
 * the canary that proves they still arrive. Started last: the kernel holds the store's bans and
 * the admin socket listens before the first event is read.
 */
export function amiPart(ctx: DaemonContext, amiOptions: ReturnType<typeof resolveAmiOptions>, policy: PolicyPart, o: AmiPartOptions): AmiPart {
  const { log, clock, bus, core } = ctx;
  const config = ctx.config();
  const where = `${amiOptions.host}:${amiOptions.port}`;
  const ami = new AmiClient({ ...amiOptions, clock, events: core.fraud ? 'security,call' : 'security' });
  const canaryListeners: Array<(account: string) => void> = [];
  const canary = config.canary.enabled ? buildCanary(ctx, config, amiOptions, (account) => canaryListeners.forEach((l) => l(account))) : undefined;
  // When the last security event came (call events carry no Service and EventVersion).
  let securitySeenAt = -Infinity;
  ami.on('event', (fields, arrival) => {
    if (fields.get('Service') !== undefined && fields.get('EventVersion') !== undefined) securitySeenAt = clock.now();
    // The canary's own echo: proof of sight, never scored (asked only while one is awaited).
    if (canary?.awaiting && canary.echo(fields.get('AccountID'))) return;
    policy.ingest(fields, arrival);
  });
  ami.on('malformed', (kind, detail) => core.pipeline.problems.report(kind, detail));
  // The admins hear when a working AMI connection goes, and when it is back; not about the
  // retries while Asterisk is still starting.
  let lost = false;
  let connectedOnce = false;
  ami.on('connected', (banner) => {
    connectedOnce = true;
    log.info({ host: amiOptions.host, port: amiOptions.port, banner, settings_from: amiOptions.source }, 'AMI connected, receiving security events');
    o.onStatus('receiving AMI security events');
    if (lost) bus.emit('trouble', { kind: 'ami-restored', time: clock.now(), text: `AMI connection to ${where} restored` });
    lost = false;
  });
  ami.on('disconnected', (reason, retryInMs) => {
    log.warn({ reason, retry_in_ms: retryInMs }, 'AMI connection lost; reconnecting');
    o.onStatus(`${connectedOnce ? 'AMI connection lost' : 'waiting for the first AMI login'} (${reason}); bans in the kernel hold, reconnecting`);
    if (!connectedOnce || lost) return;
    bus.emit('trouble', { kind: 'ami-lost', time: clock.now(), text: `AMI connection to ${where} lost (${reason}): no security events until it is back` });
    lost = true;
  });
  ami.on('authFailed', (error) => log.error({ code: error.code }, error.message));
  const canaryOk = () => (canary?.last?.ok === undefined || canary.last.ok === null ? -1 : canary.last.ok ? 1 : 0);
  return {
    name: 'ami',
    client: ami,
    onCanary: (listener) => void canaryListeners.push(listener),
    canaryEchoed: (account) => canary?.last?.account === account && canary.last.ok === true,
    blind: () => !ami.connected || (canary?.last?.ok === false && securitySeenAt < canary.last.sentAt),
    async start() {
      o.onStatus(`waiting for the first AMI login to ${where}; bans in the kernel hold`);
      const abandon = () => void ami.stop();
      o.stopping?.addEventListener('abort', abandon);
      try {
        await ami.start();
      } finally {
        o.stopping?.removeEventListener('abort', abandon);
      }
      if (!o.stopping?.aborted) canary?.start();
    },
    async stop() {
      canary?.stop();
      await ami.stop();
    },
    restartOnly(running, next) {
      const keys = changedKeys(running, next, ['ami', 'canary']);
      // Turning the toll-fraud guard on or off changes the AMI login's event classes.
      if ((running.fraud === undefined) !== (next.fraud === undefined)) keys.push('fraud');
      return keys;
    },
    status: () => ({ ami: { connected: ami.connected, reconnects: ami.stats.reconnects }, canary: canaryStatus(canary?.last) }),
    checks: () => canaryCheck(canaryStatus(canary?.last), config),
    metrics: () => amiMetrics({ connected: () => ami.connected, reconnects: () => ami.stats.reconnects, canaryOk }),
  };
}

/** `canaryOk`: 1, the last canary's event came back; 0, it did not; -1, none sent yet. */
export function amiMetrics(s: { connected: () => boolean; reconnects: () => number; canaryOk: () => number }): MetricFamily[] {
  return [
    { name: 'asterisk_guard_ami_connected', help: '1 while logged in to AMI', type: 'gauge', read: () => (s.connected() ? 1 : 0) },
    { name: 'asterisk_guard_ami_reconnects_total', help: 'AMI reconnections after a lost connection', type: 'counter', read: s.reconnects },
    { name: 'asterisk_guard_canary_ok', help: 'Did the last canary AMI login come back as a security event (1), not (0), none yet (-1)', type: 'gauge', read: s.canaryOk },
  ];
}

function buildCanary({ log, clock, bus }: DaemonContext, config: Config, amiOptions: ReturnType<typeof resolveAmiOptions>, sent: (account: string) => void): Canary {
  const { interval, timeout } = config.canary;
  return new Canary({
    clock,
    intervalMs: interval,
    timeoutMs: timeout,
    async provoke(account) {
      sent(account);
      // A login Asterisk refuses: it reports it as a security event (InvalidAccountID).
      const probe = new AmiClient({ ...amiOptions, username: account, secret: randomBytes(12).toString('hex'), clock, reconnectBaseMs: 3_600_000, reconnectMaxMs: 3_600_000 });
      // A silent peer must not keep the probe (and its retries) alive past the canary's wait.
      await Promise.race([probe.start(), clock.sleep(timeout)]).catch(() => {});
      await probe.stop();
    },
    onMissing(account) {
      const text = `blind: no security event from Asterisk for the canary AMI login as ${account} within ${timeout / 1000} s, though AMI is connected. Check that [${amiOptions.username}] in ${amiOptions.source} still has \`read = security\` (then \`manager reload\`), that no eventfilter drops InvalidAccountID, and \`asterisk -rx "manager show user ${amiOptions.username}"\``;
      log.error({ canary: account }, text);
      bus.emit('trouble', { kind: 'canary-missing', time: clock.now(), text });
    },
    onRestored() {
      const text = 'security events arrive again: the canary AMI login was reported';
      log.info(text);
      bus.emit('trouble', { kind: 'canary-restored', time: clock.now(), text });
    },
  });
}

type CanaryStatus = { readonly sent: string; readonly ok: boolean | null; readonly echo_ms: number | null } | null;

function canaryStatus(last: CanaryState | undefined): CanaryStatus {
  return last ? { sent: new Date(last.sentAt).toISOString(), ok: last.ok, echo_ms: last.echoMs } : null;
}

/** Does the guard still see? What the last canary says, for `doctor`. */
export function canaryCheck(c: CanaryStatus, config: Config): PartCheck[] {
  if (c === null) return [{ check: 'canary', status: 'info', detail: config.canary.enabled ? 'no canary sent yet (the first goes one canary.interval after start)' : 'canary.enabled is false: nothing proves that security events still arrive' }];
  if (c.ok === false) return [{ check: 'canary', status: 'fail', detail: `the last canary (${c.sent}) was not reported by Asterisk: the guard is blind`, fix: `check that the AMI user has \`read = security\` in ${config.ami.manager_conf}, that no eventfilter drops InvalidAccountID, then \`asterisk -rx "manager reload"\`` }];
  if (c.ok === true) return [{ check: 'canary', status: 'ok', detail: `security events arrive: the last canary (${c.sent}) was reported in ${c.echo_ms} ms` }];
  return [{ check: 'canary', status: 'info', detail: `the first canary (${c.sent}) is still awaited` }];
}
