import { execa, type ResultPromise } from 'execa';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

// A real systemd as PID 1, to run the guard's unit under: a Debian 12 root booted with
// systemd-nspawn. Its network is private (its own namespace, attached as an `ip netns` name so
// the lab's Asterisk can run in it); the host's node binary and this project are bound in
// read-only at the paths the unit is installed with.

/** The Debian 12 root with systemd in it: built once with debootstrap (about a minute), then reused. */
export async function ensureSystemdRoot({ cacheDir, log }: { cacheDir: string; log: (line: string) => void }): Promise<string> {
  const root = path.join(cacheDir, 'systemd-root');
  if (existsSync(path.join(root, 'lib/systemd/systemd')) && existsSync(path.join(root, '.complete'))) return root;
  log(`building the Debian 12 systemd root in ${root} with debootstrap (first run only, about a minute)`);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(cacheDir, { recursive: true });
  await execa('debootstrap', ['--variant=minbase', '--include=systemd,systemd-sysv,dbus,nftables,conntrack,iproute2', 'bookworm', root], { stdout: 'ignore', stderr: 'pipe' });
  writeFileSync(path.join(root, '.complete'), new Date().toISOString());
  return root;
}

export interface ContainerOptions {
  /** Also the machine name, and the name its network namespace gets. */
  readonly name: string;
  readonly root: string;
  /** `HOST:CONTAINER` paths bound read-only. */
  readonly bindReadOnly: readonly string[];
}

/** One booted container; `stop()` shuts it down and removes what was made for it. */
export class SystemdContainer {
  private constructor(
    private readonly o: ContainerOptions,
    private readonly nspawn: ResultPromise,
    /** Its PID 1, as the host sees it. */
    readonly pid: number,
    private readonly cgroups: readonly string[],
  ) {}

  static async boot(o: ContainerOptions): Promise<SystemdContainer> {
    // A cgroup of its own in every hierarchy: containers must never share the root cgroup.
    const cgroups: string[] = [];
    for (const h of readdirSync('/sys/fs/cgroup')) {
      const dir = path.join('/sys/fs/cgroup', h, `ag-nspawn-${o.name}`);
      try {
        mkdirSync(dir);
        cgroups.push(dir);
      } catch {
        // Not a hierarchy we may make groups in (or not one at all).
      }
    }
    const enter = cgroups.map((d) => `echo $$ > ${d}/cgroup.procs`).join('; ');
    // --volatile=overlay: every write lands in a tmpfs over the cached root, gone at shutdown,
    // so each boot starts from the same clean Debian.
    const args = ['--boot', '--keep-unit', '--register=no', '--private-network', '--volatile=overlay', '--quiet', '-D', o.root, '-M', o.name, ...o.bindReadOnly.map((b) => `--bind-ro=${b}`)];
    const nspawn = execa('sh', ['-c', `${enter}; exec systemd-nspawn ${args.map((a) => `'${a}'`).join(' ')}`], { reject: false, stdin: 'ignore', stdout: 'ignore', stderr: 'pipe' });
    let pid: number | undefined;
    for (let i = 0; i < 200 && pid === undefined; i++) {
      if (nspawn.exitCode !== null) break;
      pid = descendantNamed(nspawn.pid!, 'systemd');
      if (pid === undefined) await new Promise((r) => setTimeout(r, 50));
    }
    if (pid === undefined) {
      nspawn.kill('SIGKILL');
      const r = await nspawn;
      removeCgroups(cgroups);
      throw new Error(`systemd-nspawn did not boot ${o.root}: ${String(r.stderr)}`);
    }
    const container = new SystemdContainer(o, nspawn, pid, cgroups);
    await execa('ip', ['netns', 'attach', o.name, String(pid)]);
    // Until its bus is up `systemctl` cannot even ask; then until boot is done.
    for (let i = 0; i < 300; i++) {
      const state = String((await container.exec(['systemctl', 'is-system-running'], { reject: false })).stdout).trim();
      if (state === 'running' || state === 'degraded') return container;
      await new Promise((r) => setTimeout(r, 100));
    }
    await container.stop();
    throw new Error(`the container ${o.name} did not finish booting within 30 s`);
  }

  /** Runs a command inside every namespace of the container, as its root, with a clean environment. */
  exec(args: readonly string[], options: { reject?: boolean; input?: string } = {}) {
    return execa('nsenter', ['-t', String(this.pid), '-a', ...args], {
      reject: options.reject ?? true,
      extendEnv: false,
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
      ...(options.input !== undefined ? { input: options.input } : {}),
    });
  }

  /** Writes a file inside the container (through it: the root on disk is its read-only lower layer). */
  async writeFile(file: string, text: string, mode = '600'): Promise<void> {
    await this.exec(['sh', '-c', `mkdir -p "$(dirname "$1")" && cat > "$1" && chmod ${mode} "$1"`, 'sh', file], { input: text });
  }

  async stop(): Promise<void> {
    await execa('ip', ['netns', 'delete', this.o.name], { reject: false });
    // SIGTERM asks nspawn to shut the container down cleanly.
    this.nspawn.kill('SIGTERM');
    const timer = setTimeout(() => this.nspawn.kill('SIGKILL'), 15_000);
    await this.nspawn;
    clearTimeout(timer);
    removeCgroups(this.cgroups);
  }
}

/** The first descendant of `pid` whose command is `comm` (breadth first). */
function descendantNamed(pid: number, comm: string): number | undefined {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // Gone meanwhile.
    }
  }
  const queue = [...(children.get(pid) ?? [])];
  while (queue.length > 0) {
    const p = queue.shift()!;
    try {
      if (readFileSync(`/proc/${p}/comm`, 'utf8').trim() === comm) return p;
    } catch {
      continue;
    }
    queue.push(...(children.get(p) ?? []));
  }
  return undefined;
}

function removeCgroups(dirs: readonly string[]): void {
  // Children first: systemd made payload groups under ours.
  for (const dir of dirs) removeTree(dir);
}

function removeTree(dir: string): void {
  let entries: string[] = [];
  try {
    entries = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return;
  }
  for (const e of entries) removeTree(path.join(dir, e));
  try {
    rmdirSync(dir);
  } catch {
    // Still busy: the kernel frees it with its last process.
  }
}
