import { execa, type Options, type ResultPromise } from 'execa';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { netnsRunner } from '../src/enforce/command-runner.js';
import { NftablesDriver } from '../src/enforce/nftables-driver.js';
import { DEFAULT_LAB_CACHE, ensureAsteriskRoot, HTTP_PORT, IAX_PORT, LabAsterisk } from './asterisk.js';
import { GuardProcess, type LogLine } from './guard-process.js';
import { LabNetwork } from './netns.js';
import { PROJECT_ROOT } from '../src/paths.js';
import { compiled } from './compiled.js';

// The live lab: a real Asterisk 22 and asterisk-guard in namespace `pbx`, attackers and phones
// in namespaces of their own, all on documentation addresses. Everything a scenario observes is
// read from the real thing: Asterisk's security log, nft counters, conntrack, the guard's log.

export const PBX4 = '192.0.2.1';
export const PBX6 = '2001:db8::1';
export const PHONE = '198.51.100.10';
export const STALE_PHONE = '198.51.100.20';
/** 1003's desk phone: its usual calls teach the toll-fraud guard what is normal for 1003. */
export const DESK_PHONE = '198.51.100.30';
/**
 * One attacker per scenario (a ban is per source), each in a namespace of its own: SIPVicious
 * sends from the namespace's only address whatever its -b option says.
 */
export const ATTACKERS = {
  svcrack: '203.0.113.66',
  svwar: '203.0.113.67',
  ami: '203.0.113.68',
  afterRestart: '203.0.113.69',
  afterKill: '203.0.113.70',
  ipv6: '2001:db8:66::66',
  /** The side-by-side benchmark: one svcrack for fail2ban, one for asterisk-guard, and one
   *  that neither bans, to measure the rate of Asterisk's own security events. */
  againstFail2ban: '203.0.113.71',
  againstGuard: '203.0.113.72',
  unbanned: '203.0.113.73',
  /** The toll-fraud scenario: someone with 1003's password, calling from two new addresses. */
  tollFraud: '203.0.113.74',
  tollFraud2: '203.0.113.75',
  /** Failures only Asterisk's log tells (issue 25): an INVITE scanner through the anonymous
   *  endpoint, AMI over HTTP digest, IAX2 registrations. */
  /** Each in a /24 of its own (RFC 2544's range): three more bans in 203.0.113.0/24 would make
   *  it a subnet ban, and cut off the scenarios after them. */
  inviteScan: '198.18.25.76',
  amiHttp: '198.18.26.77',
  iax2: '198.18.27.78',
  /** Listed by the lab's blocklist feed (issue 26) before it sends anything. */
  listed: '198.18.28.79',
} as const;

export type Attacker = keyof typeof ATTACKERS;

/**
 * Swarms (issue 14), each in a namespace of its own: 40 sources in one /24 (198.18.7.0/24,
 * RFC 2544's benchmarking range), and 40 sources in 40 IPv6 /48s.
 */
export const SWARMS = {
  swarm4: Array.from({ length: 40 }, (_, i) => `198.18.7.${i + 1}`),
  swarm6: Array.from({ length: 40 }, (_, i) => `2001:db8:${(0x101 + i).toString(16)}::1`),
} as const;

export type Swarm = keyof typeof SWARMS;

export const PHONE_ACCOUNT = { user: '1002', password: 'lab-phone-1002-password' };
/** 1003's password was changed on the PBX; this phone still has the old one. */
export const STALE_ACCOUNT = { user: '1003', password: 'lab-phone-1003-old-password' };
/** 1003's password as the PBX has it: its own phone's, and the one the toll fraudster found. */
export const ACCOUNT_1003 = { user: '1003', password: 'lab-phone-1003-new-password' };
/** The lab's alert inbox in the PBX's namespace (lab/alert-sink.ts). */
const ALERT_PORT = 8099;
/** The web page, on the host: a bridge to the guard's unix socket in the lab's directory. */
export const WEB_PORT = 9472;

/**
 * The lab's guard config: the core's defaults with every time window 10 times shorter, so the
 * stale-password phone (one try every 6 s instead of every 60 s) plays out in a minute.
 */
export const LAB_THRESHOLD = 5;
/**
 * The toll-fraud guard in the lab: the PBX is in Great Britain; an endpoint's baseline counts
 * after 3 calls (a week and 20 calls by default), new-source windows scaled by 10 like the rest.
 */
const LAB_FRAUD = `fraud:
  country: GB
  learning:
    period: 0s
    calls: 3
  rules:
    new_source:
      window: 6m
`;

/** The guard's config in the lab; `extra`: more YAML sections (the fleet's lab adds `fleet:`). */
export function guardConfig(managerConf: string, dir: string, allow: readonly string[], extra = ''): string {
  return `store:
  path: ${dir}/state.db
control:
  socket: ${dir}/control.sock
ami:
  manager_conf: ${managerConf}
  ping_interval: 1s
  reconnect_base: 200ms
  reconnect_max: 2s
detect:
  threshold: ${LAB_THRESHOLD}
  half_life: 6s
  slow_threshold: 20
  slow_half_life: 6m
firewall:
  driver: nftables
policy:
  allow: [${allow.join(', ')}]
  account_attack:
    window: 6m
    quiet: 1m
${LAB_FRAUD}${extra}`;
}

/**
 * Someone else's rule set on the PBX, as in the seed story: it accepts established flows before
 * anything else (scenario 8). Its \`count\` chain, after conntrack and before filtering, counts
 * the attackers' packets that got past our drop: what reaches Asterisk's sockets.
 */
function foreignRuleset(): string {
  const counters = Object.values(ATTACKERS)
    .map((a) => `    ${a.includes(':') ? 'ip6' : 'ip'} saddr ${a} counter comment "${a}"`)
    .join('\n');
  return `table inet lab_filter {
  chain count {
    type filter hook input priority -150; policy accept;
${counters}
  }
  chain input {
    type filter hook input priority 0; policy drop;
    ct state established,related accept
    iif lo accept
    udp dport 5060 accept
    tcp dport 5038 accept
    tcp dport ${HTTP_PORT} accept
    udp dport ${IAX_PORT} accept
    meta l4proto { icmp, ipv6-icmp } accept
  }
}
`;
}

/** The lab's blocklist: the listed attacker among others of the benchmarking range, in a public list's form. */
function labBlocklist(): string {
  const others = Array.from({ length: 200 }, (_, i) => `198.19.${i >> 4}.${(i & 15) + 1}`);
  return `# the lab's VoIP blocklist (VoIPBL's form: one address or CIDR a line)\n${ATTACKERS.listed}\n${others.join('\n')}\n198.19.64.0/24 # a range\n`;
}

/** Hosts of the lab that speak SIP with a password: the phones, and the toll fraudster's two. */
export type SipHost = 'phone' | 'stale' | 'desk' | 'tollFraud' | 'tollFraud2';

function sipHostAddress(host: SipHost): string {
  return host === 'phone' ? PHONE : host === 'stale' ? STALE_PHONE : host === 'desk' ? DESK_PHONE : ATTACKERS[host];
}

/** A webhook delivery as the lab's inbox keeps it (format json, src/notify/channels.ts). */
export interface DeliveredAlert {
  readonly subject: string;
  readonly lines: readonly string[];
  readonly alerts: ReadonlyArray<{ kind: string; severity: string; title: string; lines: readonly string[] }>;
}

/** One CDR: times in epoch seconds (microseconds after the point), answer 0 when never answered. */
export interface Cdr {
  readonly channel: string;
  readonly dst: string;
  readonly dcontext: string;
  readonly start: number;
  readonly answer: number;
  readonly end: number;
  readonly billsec: number;
  readonly disposition: string;
  readonly uniqueid: string;
}

export interface LabOptions {
  readonly cacheDir?: string;
  readonly prefix?: string;
  readonly say: (line: string) => void;
  /** Sources the guard leaves alone (another defender's, in a side-by-side). */
  readonly guardAllow?: readonly string[];
}

export class Lab {
  guard: GuardProcess | undefined;
  private readonly earlierGuardLines: LogLine[] = [];
  private readonly configFile: string;
  /** The guard's admin socket (its CLI's --socket). */
  readonly controlSocket: string;
  /** The webhook alerts the guard sent, one JSON object a line. */
  readonly alertFile: string;
  /** The blocklist the lab's web peer serves the guard's feed (a plain list, as VoIPBL's). */
  readonly feedFile: string;
  /** The guard's web page: a unix socket the namespaces share through the file system. */
  readonly webSocket: string;
  private alertSink: ResultPromise | undefined;
  private webBridge: ResultPromise | undefined;

  private constructor(
    readonly net: LabNetwork,
    readonly asterisk: LabAsterisk,
    guardAllow: readonly string[],
  ) {
    const dir = mkdtempSync(path.join(tmpdir(), 'ag-lab-'));
    this.configFile = path.join(dir, 'config.yaml');
    this.controlSocket = path.join(dir, 'control.sock');
    this.alertFile = path.join(dir, 'alerts.jsonl');
    this.feedFile = path.join(dir, 'voipbl.txt');
    this.webSocket = path.join(dir, 'web.sock');
    writeFileSync(this.alertFile, '');
    writeFileSync(this.feedFile, labBlocklist());
    writeFileSync(this.configFile, guardConfig(asterisk.managerConf, dir, guardAllow, `asterisk_log:
  files: [${path.join(asterisk.logDir, 'messages')}]
  poll: 200ms
feeds:
  - { name: lab-voipbl, type: list, url: "http://127.0.0.1:${ALERT_PORT}/voipbl.txt", interval: 1m }
alerts:
  channels:
    - type: webhook
      url: http://127.0.0.1:${ALERT_PORT}/alerts
      min_severity: warning
web:
  enabled: true
  listen: ${this.webSocket}
  url: http://127.0.0.1:${WEB_PORT}
`));
  }

  static async up(options: LabOptions): Promise<Lab> {
    const root = await ensureAsteriskRoot({ cacheDir: options.cacheDir ?? DEFAULT_LAB_CACHE, log: options.say });
    const net = await LabNetwork.create(options.prefix ?? 'aglab', { name: 'pbx', addresses: [PBX4, PBX6] }, [
      ...Object.entries(ATTACKERS).map(([name, address]) => ({ name, addresses: [address] })),
      ...Object.entries(SWARMS).map(([name, addresses]) => ({ name, addresses: [...addresses] })),
      { name: 'phone', addresses: [PHONE] },
      { name: 'stale', addresses: [STALE_PHONE] },
      { name: 'desk', addresses: [DESK_PHONE] },
    ]);
    const asterisk = new LabAsterisk({ root, namespace: net.ns('pbx'), confDir: path.join(PROJECT_ROOT, 'asterisk-conf') });
    const lab = new Lab(net, asterisk, options.guardAllow ?? []);
    try {
      await lab.exec('pbx', 'nft', ['-f', '-'], { input: foreignRuleset() });
      await asterisk.prepare();
      await asterisk.start();
      await lab.startAlertSink();
      await lab.startGuard();
    } catch (e) {
      await lab.down();
      throw e;
    }
    return lab;
  }

  async down(): Promise<void> {
    this.webBridge?.kill('SIGKILL');
    await this.webBridge;
    this.guard?.kill('SIGKILL');
    await this.guard?.exit();
    this.guard = undefined;
    this.alertSink?.kill('SIGKILL');
    await this.alertSink;
    await this.asterisk.dispose();
    await this.net.destroy();
  }

  exec(host: string, command: string, args: readonly string[], options: Options = {}) {
    return execa('ip', ['netns', 'exec', this.net.ns(host), command, ...args], { reject: false, ...options });
  }

  private async startAlertSink(): Promise<void> {
    const sink = execa('ip', ['netns', 'exec', this.net.ns('pbx'), process.execPath, compiled('lab/alert-sink.js'), String(ALERT_PORT), this.alertFile, this.feedFile], { reject: false, buffer: false });
    this.alertSink = sink;
    await new Promise<void>((resolve, reject) => {
      sink.stdout!.once('data', () => resolve());
      void sink.then(() => reject(new Error('the lab alert sink exited')));
    });
  }

  /**
   * Opens the guard's page on the host at 127.0.0.1:WEB_PORT (a TCP-to-unix bridge: the guard
   * runs in the PBX's namespace). False when the port is taken (another lab's demo).
   */
  async openWebPage(): Promise<boolean> {
    const bridge = execa(process.execPath, [compiled('lab/tcp-to-unix.js'), '127.0.0.1', String(WEB_PORT), this.webSocket], { reject: false, buffer: false });
    const listening = await new Promise<boolean>((resolve) => {
      bridge.stdout!.once('data', () => resolve(true));
      void bridge.then(() => resolve(false));
    });
    if (listening) this.webBridge = bridge;
    return listening;
  }

  /** A one-time login URL for the page (asterisk-guard web-url). */
  async webLoginUrl(): Promise<string> {
    const r = await execa(process.execPath, [compiled('src/cli.js'), 'web-url', '--socket', this.controlSocket]);
    return String(r.stdout).trim();
  }

  /** The alerts the guard's webhook delivered so far. */
  alerts(): DeliveredAlert[] {
    return readFileSync(this.alertFile, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as DeliveredAlert);
  }

  /** asterisk-guard run, in the PBX's namespace; resolves once it receives AMI events. */
  async startGuard(): Promise<GuardProcess> {
    const guard = GuardProcess.start(this.net.ns('pbx'), ['run', '--config', this.configFile]);
    this.guard = guard;
    await guard.waitFor((l) => l.msg === 'AMI connected, receiving security events', 20_000);
    return guard;
  }

  async killGuard(): Promise<void> {
    this.guard?.kill('SIGKILL');
    await this.guard?.exit();
    if (this.guard) this.earlierGuardLines.push(...this.guard.lines);
    this.guard = undefined;
  }

  /**
   * A guard started from nothing: killed, its table and store gone, started again. For runs
   * that must each begin alike (lab/swarm-runs.ts): no ban, score, siege or ladder step kept.
   */
  async freshGuard(): Promise<GuardProcess> {
    await this.killGuard();
    await this.exec('pbx', 'nft', ['delete', 'table', 'inet', 'asterisk_guard']);
    const store = path.join(path.dirname(this.configFile), 'state.db');
    for (const f of [store, `${store}-wal`, `${store}-shm`]) rmSync(f, { force: true });
    return this.startGuard();
  }

  /** Every log line of every guard process the lab ran, oldest first. */
  guardLog(): LogLine[] {
    return [...this.earlierGuardLines, ...(this.guard?.lines ?? [])];
  }

  /** One REGISTER with digest auth (sipsak, a real SIP client); true on 200 OK. */
  async register(host: SipHost, account: { user: string; password: string }): Promise<boolean> {
    return (await this.tryRegister(host, account)).ok;
  }

  /** A REGISTER with digest auth; when it fails, what sipsak said (its last line) and its exit code. */
  async tryRegister(host: SipHost, account: { user: string; password: string }): Promise<{ ok: boolean; detail: string }> {
    const from = sipHostAddress(host);
    const r = await this.exec(host, 'sipsak', ['-U', '-C', `sip:${account.user}@${from}`, '-s', `sip:${account.user}@${PBX4}`, '--auth-username', account.user, '-a', account.password, '-x', '3600', '-H', from, '-i'], {
      timeout: 10_000,
    });
    const said = `${String(r.stdout)}\n${String(r.stderr)}`.split('\n').map((l) => l.trim()).filter((l) => l !== '');
    return { ok: r.exitCode === 0, detail: `sipsak exit ${r.exitCode}${r.timedOut ? ' (timed out after 10 s)' : ''}: ${said.at(-1) ?? 'said nothing'}` };
  }

  /**
   * A call placed with digest auth from a host of the lab (lab/sip-call.ts): its last event,
   * `hungup` when it was answered and hung up by the caller after `holdMs`.
   */
  async call(host: SipHost, account: { user: string; password: string }, number: string, holdMs = 500): Promise<{ event: string; status?: number | string }> {
    const from = sipHostAddress(host);
    const r = await this.exec(host, process.execPath, [compiled('lab/sip-call.js'), from, PBX4, account.user, account.password, number, String(holdMs)], { timeout: 15_000 });
    const lines = String(r.stdout).split('\n').filter((l) => l.trim() !== '');
    return lines.length === 0 ? { event: 'failed', status: `no output (exit ${r.exitCode})` } : (JSON.parse(lines.at(-1)!) as { event: string; status?: number | string });
  }

  /** Asterisk's own call records (cdr_custom's JSON lines, asterisk-conf/cdr_custom.conf). */
  cdrs(): Cdr[] {
    let text = '';
    try {
      text = readFileSync(path.join(this.asterisk.logDir, 'cdr-custom/cdr.json'), 'utf8');
    } catch {
      return [];
    }
    return text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Cdr);
  }

  /** Contacts Asterisk holds for an AOR, as `pjsip show aor` lists them. */
  async contacts(aor: string): Promise<string[]> {
    const out = await this.asterisk.cli(`pjsip show aor ${aor}`);
    return [...out.matchAll(/Contact:\s+(\S+\/sip:\S+)/g)].map((m) => m[1]!);
  }

  svcrack(attacker: Attacker, account: string): ResultPromise {
    // Fixed local port: every guess rides one UDP flow, which conntrack marks established.
    return this.exec(attacker, 'svcrack', ['-u', account, '-r', '1-1000000', '-P', '5070', PBX4], { timeout: 60_000, cwd: tmpdir() });
  }

  svwar(attacker: Attacker, extensions: string): ResultPromise {
    return this.exec(attacker, 'svwar', ['-e', extensions, '--force', PBX4], { timeout: 60_000, cwd: tmpdir() });
  }

  async amiBruteForce(attacker: Attacker, user: string, count: number): Promise<{ answered: number; unanswered: number }> {
    const r = await this.exec(attacker, process.execPath, [compiled('lab/ami-attack.js'), PBX4, '5038', String(count), user, ATTACKERS[attacker]], { reject: true });
    return JSON.parse(String(r.stdout)) as { answered: number; unanswered: number };
  }

  /** REGISTER digest guesses from an attacker (IPv4 or IPv6 by its address). */
  sipGuess(attacker: Attacker, account: string, count: number, everyMs?: number): ResultPromise {
    const from = ATTACKERS[attacker];
    const to = from.includes(':') ? PBX6 : PBX4;
    return this.exec(attacker, process.execPath, [compiled('lab/sip-guess.js'), from, to, account, String(count), ...(everyMs ? [String(everyMs)] : [])]);
  }

  /** A swarm's digest guesses, round robin: every source guesses `count` times, one every `everyMs`. */
  swarmGuess(swarm: Swarm, account: string, count: number, everyMs: number): ResultPromise {
    const sources = SWARMS[swarm];
    const to = sources[0]!.includes(':') ? PBX6 : PBX4;
    return this.exec(swarm, process.execPath, [compiled('lab/sip-guess.js'), sources.join(','), to, account, String(count), String(everyMs)]);
  }

  /** An unauthenticated INVITE scan through the anonymous endpoint (lab/sip-scan.ts). */
  async inviteScan(count: number): Promise<{ answered: number; unanswered: number }> {
    return this.tool('inviteScan', 'lab/sip-scan.js', [ATTACKERS.inviteScan, PBX4, 'anon.example', String(count)]);
  }

  /** AMI over HTTP with digest logins (lab/ami-http-guess.ts). */
  async amiHttpGuess(count: number): Promise<{ answered: number; unanswered: number }> {
    return this.tool('amiHttp', 'lab/ami-http-guess.js', [ATTACKERS.amiHttp, PBX4, String(HTTP_PORT), String(count)]);
  }

  /** IAX2 registrations of peers that do not exist (lab/iax-guess.ts). */
  async iaxGuess(count: number): Promise<{ answered: number; unanswered: number }> {
    return this.tool('iax2', 'lab/iax-guess.js', [ATTACKERS.iax2, PBX4, String(IAX_PORT), String(count)]);
  }

  private async tool(attacker: Attacker, script: string, args: readonly string[]): Promise<{ answered: number; unanswered: number }> {
    const r = await this.exec(attacker, process.execPath, [compiled(script), ...args], { reject: true, timeout: 60_000 });
    return JSON.parse(String(r.stdout)) as { answered: number; unanswered: number };
  }

  /** Lines of Asterisk's own messages log that match `pattern` and name `source`. */
  logLines(pattern: RegExp, source: string): string[] {
    let text = '';
    try {
      text = readFileSync(path.join(this.asterisk.logDir, 'messages'), 'utf8');
    } catch {
      return [];
    }
    return text.split('\n').filter((l) => pattern.test(l) && l.includes(source));
  }

  /** Security events (of one kind, or all) Asterisk itself logged for a source (its log, not the guard's counters). */
  securityEvents(kind: string | undefined, source: string): number {
    let text = '';
    try {
      text = readFileSync(path.join(this.asterisk.logDir, 'security'), 'utf8');
    } catch {
      return 0;
    }
    const needle = `/${source}/`;
    return text.split('\n').filter((l) => (kind === undefined || l.includes(`SecurityEvent="${kind}"`)) && l.includes(needle)).length;
  }

  /** When Asterisk reported each security event of a kind from these sources (its EventTV, ms since the epoch), in order. */
  securityEventTimes(kind: string, sources: readonly string[]): number[] {
    let text = '';
    try {
      text = readFileSync(path.join(this.asterisk.logDir, 'security'), 'utf8');
    } catch {
      return [];
    }
    const needles = sources.map((s) => `/${s}/`);
    return text
      .split('\n')
      .filter((l) => l.includes(`SecurityEvent="${kind}"`) && needles.some((n) => l.includes(n)))
      .map((l) => Date.parse(/EventTV="([^"]+)"/.exec(l)?.[1]?.replace(/([+-]\d\d)(\d\d)$/, '$1:$2') ?? ''))
      .filter((t) => !Number.isNaN(t))
      .sort((a, b) => a - b);
  }

  /** Packets from `source` that got past the drop into the input path (towards Asterisk). */
  async packetsPastDrop(source: string): Promise<number> {
    const r = await this.exec('pbx', 'nft', ['-j', 'list', 'chain', 'inet', 'lab_filter', 'count']);
    const doc = JSON.parse(String(r.stdout)) as { nftables: Array<{ rule?: { comment?: string; expr: Array<{ counter?: { packets: number } }> } }> };
    const rule = doc.nftables.find((x) => x.rule?.comment === source)?.rule;
    return rule?.expr.find((e) => e.counter)?.counter?.packets ?? 0;
  }

  /** Packets our prerouting chain dropped so far. */
  async packetsDropped(): Promise<number> {
    const r = await this.exec('pbx', 'nft', ['-j', 'list', 'chain', 'inet', 'asterisk_guard', 'prerouting']);
    if (r.exitCode !== 0) return 0;
    const doc = JSON.parse(String(r.stdout)) as { nftables: Array<{ rule?: { expr: Array<{ counter?: { packets: number } }> } }> };
    return doc.nftables.reduce((sum, x) => sum + (x.rule?.expr.find((e) => e.counter)?.counter?.packets ?? 0), 0);
  }

  async bannedPrefixes(): Promise<string[]> {
    // The driver's own reading of the kernel (it never starts nft -i for a listing).
    const reader = new NftablesDriver(netnsRunner(this.net.ns('pbx')), { table: 'asterisk_guard', priority: -310 });
    return (await reader.list(Date.now())).map((b) => b.prefix.text);
  }

  async conntrackEntries(source: string): Promise<number> {
    const r = await this.exec('pbx', 'conntrack', ['-L', '-f', source.includes(':') ? 'ipv6' : 'ipv4', '-s', source]);
    return String(r.stdout).split('\n').filter((l) => l.trim() !== '').length;
  }
}
