import type { Logger } from 'pino';
import { configTooOpen, loadConfigFile } from './config/load.js';
import type { Config } from './config/schema.js';
import { isGuardError } from './errors.js';
import { EXIT } from './exit-codes.js';
import { takeInstanceLock } from './ops/instance-lock.js';
import { serviceManager } from './ops/systemd-notify.js';
import { startService, type RunningService } from './service.js';
import { systemClock } from './time/clock.js';

/**
 * `asterisk-guard run`: the daemon's life. Signals are handled from the start (a daemon
 * waiting for Asterisk must stop cleanly too, and SIGHUP's default action would kill it);
 * systemd hears READY, RELOADING, STOPPING and the watchdog.
 */
export async function runDaemon(config: Config, configFile: string, log: Logger): Promise<number> {
  // Before anything is touched: a second daemon must leave the first's socket, store and table alone.
  const lock = takeInstanceLock(config.control.socket);
  try {
    return await runLocked(config, configFile, log);
  } finally {
    lock.release();
  }
}

async function runLocked(config: Config, configFile: string, log: Logger): Promise<number> {
  const tooOpen = configTooOpen(configFile);
  if (tooOpen) log.warn(tooOpen);
  const systemd = serviceManager(log);
  let service: RunningService | undefined;
  let stopped!: () => void;
  const done = new Promise<void>((resolve) => (stopped = resolve));
  // A stop while still waiting for Asterisk's first login: the start unwinds (socket removed).
  const starting = new AbortController();
  const stop = (signal: string) => {
    log.info({ signal }, 'stopping: finishing kernel updates in flight; bans stay in the kernel');
    systemd.stop();
    void systemd.notify('STOPPING=1');
    if (service) void service.stop().then(stopped);
    else starting.abort();
  };
  const reload = async () => {
    if (!service) return log.warn('SIGHUP while starting: ignored, the config being started is the one on disk');
    await systemd.notify('RELOADING=1');
    try {
      const next = loadConfigFile(configFile);
      const needRestart = await service.reload(next);
      log.level = next.log.level;
      log.info({ config: configFile, needs_restart: needRestart }, needRestart.length === 0 ? 'config reloaded' : `config reloaded; ${needRestart.join(', ')} changed and take effect at the next restart`);
    } catch (e) {
      log.error({ config: configFile, err: isGuardError(e) ? `${e.code}: ${e.message}` : String(e) }, 'config reload refused; the running config stays');
    }
    await systemd.notify('READY=1');
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => void reload());
  // READY once the kernel is reconciled and the admin socket listens: the PBX is protected from
  // then on, and a daemon waiting for Asterisk must not be killed by the watchdog (or the start
  // timeout) while it waits. The status text says whether events arrive.
  let ready = false;
  const onStatus = (text: string) => {
    if (!ready) systemd.startWatchdog();
    void systemd.notify(...(ready ? [] : (['READY=1'] as const)), `STATUS=${text}`);
    ready = true;
  };
  service = await startService(config, log, systemClock, { stopping: starting.signal, onStatus });
  if (!service) {
    log.info('stopped before the first AMI login');
    return EXIT.ok;
  }
  await done;
  log.info('stopped');
  return EXIT.ok;
}
