import { execa, type ResultPromise } from 'execa';
import { createInterface } from 'node:readline';

const PROBE = new URL('../../dist/lab/udp-probe.js', import.meta.url).pathname;

/** A UDP listener inside a namespace, counting datagrams per source address. */
export class UdpListener {
  readonly counts = new Map<string, number>();
  private constructor(private readonly child: ResultPromise) {}

  static async start(ns: string, port: number): Promise<UdpListener> {
    const child = execa('ip', ['netns', 'exec', ns, process.execPath, PROBE, 'listen', String(port)], { reject: false, buffer: false });
    const listener = new UdpListener(child);
    const lines = createInterface({ input: child.stdout! });
    await new Promise<void>((resolve, reject) => {
      child.once('exit', () => reject(new Error('udp listener exited')));
      lines.on('line', (line) => {
        const msg = JSON.parse(line) as { from?: string; listening?: number };
        if (msg.listening) resolve();
        if (msg.from) listener.counts.set(msg.from, (listener.counts.get(msg.from) ?? 0) + 1);
      });
    });
    return listener;
  }

  count(from: string): number {
    return this.counts.get(from) ?? 0;
  }

  stop(): void {
    this.child.kill('SIGKILL');
  }
}

/** Sends a datagram every `everyMs` from `from`, always from the same port (one conntrack flow). */
export function startSender(ns: string, from: string, to: string, port: number, everyMs: number): ResultPromise {
  return execa('ip', ['netns', 'exec', ns, process.execPath, PROBE, 'send', from, to, String(port), String(everyMs)], { reject: false });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
