import { execa, type ResultPromise } from 'execa';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { PROJECT_ROOT } from '../src/paths.js';
import { compiled } from './compiled.js';

export const CLI = compiled('src/cli.js');
/** The V8 flags of the daemon's own command line: its shebang's (install-service writes the same into the unit). */
export const DAEMON_FLAGS: readonly string[] = /^#!.*\bnode\s+(.*)$/.exec(readFileSync(CLI, 'utf8').split('\n')[0]!)?.[1]?.split(/\s+/) ?? [];
/** The unit's Environment= lines (MALLOC_ARENA_MAX): the daemon runs as systemd runs it. */
export const UNIT_ENV: Readonly<Record<string, string>> = Object.fromEntries(
  [...readFileSync(path.join(PROJECT_ROOT, 'systemd', 'asterisk-guard.service'), 'utf8').matchAll(/^Environment=(\w+)=(\S+)$/gm)].map((m) => [m[1]!, m[2]!]),
);

export type LogLine = Record<string, unknown> & { msg?: string; time?: number };

/** The real `asterisk-guard` command in a namespace, its JSON log lines collected as they come. */
export class GuardProcess {
  readonly lines: LogLine[] = [];
  readonly stderr: string[] = [];
  private waiters: Array<() => void> = [];

  private constructor(readonly child: ResultPromise) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        this.lines.push(JSON.parse(line) as LogLine);
      } catch {
        this.lines.push({ msg: line });
      }
      for (const w of this.waiters) w();
    });
    createInterface({ input: child.stderr! }).on('line', (line) => this.stderr.push(line));
  }

  /**
   * Run as the systemd unit runs it: its priority (Nice=-10: ahead of an Asterisk under attack),
   * its environment, the V8 flags of its command line (without them the soak measured a heap
   * V8 sizes differently: semi-spaces of 16 MB, short-lived objects pretenured).
   */
  static start(namespace: string, args: string[], env: Readonly<Record<string, string>> = {}): GuardProcess {
    return new GuardProcess(execa('ip', ['netns', 'exec', namespace, 'nice', '-n', '-10', process.execPath, ...DAEMON_FLAGS, CLI, ...args], { reject: false, buffer: false, env: { ...UNIT_ENV, ...env } }));
  }

  /** Resolves with the first log line (from `from` on) matching, or rejects after `ms`. */
  waitFor(match: (l: LogLine) => boolean, ms: number, from = 0): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const hit = this.lines.slice(from).find(match);
        if (hit) {
          clearTimeout(timer);
          this.waiters = this.waiters.filter((w) => w !== check);
          resolve(hit);
        }
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error(`no matching log line within ${ms} ms; last lines:\n${this.lines.slice(-5).map((l) => JSON.stringify(l)).join('\n')}\n${this.stderr.join('\n')}`));
      }, ms);
      this.waiters.push(check);
      check();
    });
  }

  async exit(): Promise<{ exitCode: number | undefined; stderr: string }> {
    const r = await this.child;
    return { exitCode: r.exitCode, stderr: this.stderr.join('\n') };
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    this.child.kill(signal);
  }
}
