import { execa, type ResultPromise } from 'execa';
import { mkdtempSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** A redis-server of Debian's, on loopback, for the fleet's tests and demo: nothing persisted. */
export class LabRedis {
  private process: ResultPromise | undefined;

  private constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly password: string,
    /** TLS only (rediss://), with a self-signed certificate for 127.0.0.1: `ca` verifies it. */
    private readonly tls: boolean,
    /** Inside this network namespace, on `host` (the fleet's lab: reached by three PBXs' namespaces). */
    private readonly namespace: string | undefined,
    readonly host: string,
  ) {}

  /** The certificate Redis presents (self-signed: it is its own CA). */
  get ca(): string {
    return path.join(this.dir, 'redis.pem');
  }

  get pid(): number {
    if (this.process?.pid === undefined) throw new Error('redis-server is not running');
    return this.process.pid;
  }

  /** redis://, with the ACL user the guards use. */
  get url(): string {
    return `${this.tls ? 'rediss' : 'redis'}://guard:${this.password}@${this.host}:${this.port}`;
  }

  static async start(o: { tls?: boolean; namespace?: string; host?: string } = {}, port = 20_000 + Math.floor(Math.random() * 20_000)): Promise<LabRedis> {
    const r = new LabRedis(port, mkdtempSync(path.join(tmpdir(), 'ag-redis-')), 'lab-fleet-password', o.tls === true, o.namespace, o.host ?? '127.0.0.1');
    if (r.tls) {
      await execa('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', path.join(r.dir, 'redis.key'), '-out', r.ca]);
    }
    await r.up();
    return r;
  }

  /** (Re)starts the server on the same port: an empty Redis, as after a crash without persistence. */
  async up(): Promise<void> {
    const inside = this.namespace === undefined ? [] : ['ip', 'netns', 'exec', this.namespace];
    this.process = execa(
      inside[0] ?? 'redis-server',
      [
        ...(inside.length > 0 ? [...inside.slice(1), 'redis-server'] : []),
        ...(this.tls ? ['--port', '0', '--tls-port', String(this.port), '--tls-cert-file', this.ca, '--tls-key-file', path.join(this.dir, 'redis.key'), '--tls-ca-cert-file', this.ca, '--tls-auth-clients', 'no'] : ['--port', String(this.port)]),
        '--bind', this.host, '--save', '', '--appendonly', 'no', '--dir', this.dir, '--user', 'default', 'off', '--user', 'guard', 'on', `>${this.password}`, '~asterisk-guard:*', '+@all'],
      { reject: false, all: true },
    );
    for (let i = 0; i < 100; i++) {
      if (await (this.namespace === undefined ? listening(this.port) : answers(this.namespace, this.host, this.port))) return;
      if (this.process.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    this.process.kill('SIGKILL');
    throw new Error(`redis-server did not start on port ${this.port}: ${String((await this.process).all).slice(-500)}`);
  }

  /** Killed at once (SIGKILL): the fleet must go on without it. */
  async kill(): Promise<void> {
    this.process?.kill('SIGKILL');
    await this.process;
    this.process = undefined;
  }
}

/** From outside its namespace a TCP connect cannot reach it: redis-cli inside can (NOAUTH is an answer). */
async function answers(namespace: string, host: string, port: number): Promise<boolean> {
  const r = await execa('ip', ['netns', 'exec', namespace, 'redis-cli', '-h', host, '-p', String(port), 'PING'], { reject: false, timeout: 2000 });
  return /PONG|NOAUTH/.test(`${String(r.stdout)} ${String(r.stderr)}`);
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ port, host: '127.0.0.1' }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}
