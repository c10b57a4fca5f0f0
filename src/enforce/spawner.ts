import { spawn, type ChildProcess } from 'node:child_process';
import { GuardError } from '../errors.js';
import { lowerPriority, type CommandResult } from './command-runner.js';

// Node's spawn blocks the event loop until the child has exec'd: 4-6 ms a command on these
// machines (a Firecracker VM), a worker thread's spawn still 3-5 ms (fork stops the whole
// process while it copies its page tables). A ban's two conntrack walks cost the daemon
// 10 ms of event loop, and a siege's 40 bans (80 walks, more when a new ban aborts a walk)
// held the next commits 10-25 ms each. So the walks are started by a small long-lived Perl
// process (perl-base is Essential in Debian): its forks copy its few pages, not ours, and it
// runs below the daemon's priority with what it starts.
//
// Requests, one line each, fields hex-encoded and tab-separated:
//   R <id> <program> <args...>     run
//   K <id>                         kill it (SIGKILL)
// Answers: <id> <exit code or -signal> <stdout> <stderr>
const SCRIPT = String.raw`
use strict; use warnings; no warnings 'exec'; use IO::Select; use POSIX qw(WNOHANG);
$| = 1;
my $sel = IO::Select->new(\*STDIN);
my (%byfd, %job, %pid2id);
my $in = '';
sub hx { unpack('H*', $_[0] // '') }
sub finish {
  my ($id) = @_; my $j = $job{$id};
  return if $j->{open} > 0 || !defined $j->{status};
  my $s = $j->{status};
  my $code = ($s & 127) ? -($s & 127) : ($s >> 8);
  print join("\t", $id, $code, hx($j->{out}), hx($j->{err})), "\n";
  delete $job{$id};
}
sub run {
  my ($id, @argv) = @_;
  pipe(my $or, my $ow) or die; pipe(my $er, my $ew) or die;
  my $pid = fork();
  if (!defined $pid) { print join("\t", $id, 127, '', hx("fork: $!")), "\n"; return; }
  if ($pid == 0) {
    open(STDIN, '<', '/dev/null'); open(STDOUT, '>&', $ow); open(STDERR, '>&', $ew);
    exec { $argv[0] } @argv;
    print STDERR "exec failed: $!"; POSIX::_exit(127);
  }
  close $ow; close $ew;
  $job{$id} = { pid => $pid, out => '', err => '', open => 2 };
  $pid2id{$pid} = $id;
  for ([$or, 'out'], [$er, 'err']) { $byfd{fileno $_->[0]} = [$id, $_->[1], $_->[0]]; $sel->add($_->[0]); }
}
while (1) {
  for my $fh ($sel->can_read(0.02)) {
    if ($fh == \*STDIN) {
      my $n = sysread(STDIN, my $chunk, 65536);
      exit 0 if !$n;
      $in .= $chunk;
      while ($in =~ s/^([^\n]*)\n//) {
        my ($op, @f) = split /\t/, $1, -1;
        if ($op eq 'R') { my ($id, @argv) = @f; run($id, map { pack('H*', $_) } @argv); }
        elsif ($op eq 'K' && $job{$f[0]}) { kill 'KILL', $job{$f[0]}{pid}; }
      }
      next;
    }
    my ($id, $which, $h) = @{$byfd{fileno $fh}};
    my $n = sysread($fh, my $chunk, 65536);
    if ($n) { $job{$id}{$which} .= $chunk if length($job{$id}{$which}) < 16777216; next; }
    $sel->remove($fh); delete $byfd{fileno $fh}; close $h;
    $job{$id}{open}--; finish($id);
  }
  while ((my $pid = waitpid(-1, WNOHANG)) > 0) {
    my $id = delete $pid2id{$pid};
    next unless defined $id && $job{$id};
    $job{$id}{status} = $?; finish($id);
  }
}
`;

const hex = (s: string) => Buffer.from(s, 'utf8').toString('hex');
const unhex = (s: string) => Buffer.from(s, 'hex').toString('utf8');

interface Waiting {
  readonly command: string;
  readonly signal: AbortSignal | undefined;
  readonly timer: NodeJS.Timeout;
  readonly resolve: (r: CommandResult) => void;
  readonly reject: (e: Error) => void;
}

/** Runs commands through the spawner; one per process, started at the first command. */
export class Spawner {
  private child: ChildProcess | undefined;
  private readonly waiting = new Map<number, Waiting>();
  private next = 0;
  private buffered = '';

  /** `nice`: how far below the daemon's priority the spawner and its commands run. */
  constructor(
    private readonly timeoutMs: number,
    private readonly nice: number,
  ) {}

  run(argv: readonly string[], command: string, signal?: AbortSignal): Promise<CommandResult> {
    const child = this.started();
    const id = this.next++;
    const kill = () => this.waiting.has(id) && child.stdin!.write(`K\t${id}\n`);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(kill, this.timeoutMs).unref();
      this.waiting.set(id, { command, signal, timer, resolve, reject });
      if (this.waiting.size === 1) this.hold(child, true);
      child.stdin!.write(`R\t${id}\t${argv.map(hex).join('\t')}\n`);
      signal?.addEventListener('abort', kill, { once: true });
    });
  }

  /** The spawner keeps the process alive only while a command runs. */
  private hold(child: ChildProcess, busy: boolean): void {
    for (const h of [child, child.stdin, child.stdout] as Array<{ ref(): void; unref(): void } | null>) busy ? h?.ref() : h?.unref();
  }

  private started(): ChildProcess {
    if (this.child) return this.child;
    const child = spawn('perl', ['-e', SCRIPT], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.child = child;
    if (child.pid !== undefined) lowerPriority(child.pid, this.nice);
    child.stdin!.on('error', () => {});
    child.stdout!.setEncoding('utf8').on('data', (d: string) => this.answer(d));
    const gone = (why: string) => {
      if (this.child === child) this.child = undefined;
      for (const w of this.waiting.values()) clearTimeout(w.timer), w.reject(new GuardError('AG_ERR_FIREWALL_COMMAND', `${w.command}: the spawner (perl) ${why}; install perl-base`));
      this.waiting.clear();
    };
    child.on('error', (e) => gone(`failed: ${e.message}`));
    child.on('exit', (code, sig) => gone(`exited ${sig ?? code}`));
    this.hold(child, false);
    return child;
  }

  private answer(data: string): void {
    this.buffered += data;
    let end: number;
    while ((end = this.buffered.indexOf('\n')) !== -1) {
      const [id, code, out, err] = this.buffered.slice(0, end).split('\t');
      this.buffered = this.buffered.slice(end + 1);
      const w = this.waiting.get(Number(id));
      if (!w) continue;
      this.waiting.delete(Number(id));
      clearTimeout(w.timer);
      if (this.waiting.size === 0 && this.child) this.hold(this.child, false);
      const exitCode = Number(code);
      let stderr = unhex(err ?? '').replace(/\n$/, '');
      if (exitCode === 127 && stderr.startsWith('exec failed: No such file')) {
        w.reject(new GuardError('AG_ERR_FIREWALL_COMMAND', `${w.command}: command not found; install it (Debian: apt-get install ${w.command})`));
        continue;
      }
      if (w.signal?.aborted) stderr += `${stderr ? '\n' : ''}aborted`;
      else if (exitCode < 0) stderr += `${stderr ? '\n' : ''}killed by signal ${-exitCode}${exitCode === -9 ? ` (no answer within ${this.timeoutMs / 1000} s)` : ''}`;
      w.resolve({ exitCode: exitCode < 0 ? -1 : exitCode, stdout: unhex(out ?? '').replace(/\n$/, ''), stderr });
    }
  }
}
