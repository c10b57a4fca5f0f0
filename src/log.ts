import { pino, type Logger, type LevelWithSilent } from 'pino';

/** JSON lines: stdout for the daemon (journald), stderr for commands whose stdout is a result. */
export function createLogger(level: LevelWithSilent, to: 'stdout' | 'stderr'): Logger {
  return pino({ level, base: { service: 'asterisk-guard' } }, pino.destination({ fd: to === 'stdout' ? 1 : 2, sync: to === 'stderr' }));
}
