import { spawn } from 'node:child_process';
import type { Logger } from 'pino';

// systemd's notify protocol: datagrams to $NOTIFY_SOCKET. Node cannot send on a unix datagram
// socket, so each message goes through `systemd-notify`, which since systemd 246 waits until
// the manager has taken it (so a sender that exits at once is still attributed to the unit;
// the unit says NotifyAccess=all).

export type NotifyState = 'READY=1' | 'RELOADING=1' | 'STOPPING=1' | 'WATCHDOG=1' | `STATUS=${string}`;

export interface ServiceManager {
  notify(...states: NotifyState[]): Promise<void>;
  /** Starts the watchdog pings at half systemd's interval, when systemd asked for them. */
  startWatchdog(): void;
  stop(): void;
}

/** Talks to systemd when it started us with a notify socket; otherwise does nothing. */
export function serviceManager(log: Logger, env: NodeJS.ProcessEnv = process.env): ServiceManager {
  const socket = env['NOTIFY_SOCKET'];
  let watchdog: NodeJS.Timeout | undefined;
  const send = (states: readonly NotifyState[]) =>
    new Promise<void>((resolve) => {
      if (!socket) return resolve();
      const child = spawn('systemd-notify', [...states], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NOTIFY_SOCKET: socket } });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('error', (e) => {
        log.warn({ err: e, states }, 'systemd-notify could not run; systemd will not hear from us');
        resolve();
      });
      child.on('close', (code) => {
        if (code !== 0) log.warn({ code, stderr: stderr.trim(), states }, 'systemd-notify failed');
        resolve();
      });
    });
  return {
    notify: (...states) => send(states),
    startWatchdog() {
      const usec = Number(env['WATCHDOG_USEC']);
      const pid = env['WATCHDOG_PID'];
      if (!socket || !Number.isFinite(usec) || usec <= 0 || (pid !== undefined && Number(pid) !== process.pid)) return;
      watchdog = setInterval(() => void send(['WATCHDOG=1']), Math.max(100, usec / 2000));
      watchdog.unref();
    },
    stop() {
      clearInterval(watchdog);
    },
  };
}
