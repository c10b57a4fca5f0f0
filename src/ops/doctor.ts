import os from 'node:os';
import { accessSync, constants, existsSync, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { AmiClient } from '../ami/client.js';
import { readAsteriskConf } from '../ami/asterisk-conf.js';
import { callRightsProblems } from '../ami/manager-conf.js';
import { getsNotices, iaxAuthDebug, loggerChannels } from '../ami/logger-conf.js';
import { resolveAmiOptions } from '../ami/settings.js';
import { configTooOpen, loadConfigFile } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { CommandRunner } from '../enforce/command-runner.js';
import { isGuardError } from '../errors.js';
import { systemAlert } from '../notify/alert.js';
import { readIdentifiedAddresses } from '../ami/pjsip-identify.js';
import { buildChannels } from '../notify/build-channels.js';
import { request } from '../control/client.js';
import type { PartCheck } from '../parts/part.js';

// `asterisk-guard doctor`: each check says what it found and, when it fails, what to do.
// `info` results (other defenders on the box) are reported and never fail the run.

export type CheckResult = PartCheck;

export interface DoctorOptions {
  readonly configFile: string;
  readonly runner: CommandRunner;
  /** Send a test alert through every channel instead of only connecting to it. */
  readonly sendTest: boolean;
  /** /proc of the host (tests point it elsewhere). */
  readonly proc?: string;
}

const ok = (check: string, detail: string): CheckResult => ({ check, status: 'ok', detail });
const fail = (check: string, detail: string, fix: string): CheckResult => ({ check, status: 'fail', detail, fix });
const message = (e: unknown) => (isGuardError(e) ? e.message : (e as Error).message);

export async function runDoctor(o: DoctorOptions): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  let config: Config;
  try {
    config = loadConfigFile(o.configFile);
    results.push(ok('config', `${o.configFile} is valid`));
    const tooOpen = configTooOpen(o.configFile);
    results.push(tooOpen ? fail('config permissions', tooOpen, `chmod 600 ${o.configFile}`) : ok('config permissions', 'readable by its owner only'));
  } catch (e) {
    results.push(fail('config', message(e), `fix the key named above, then \`asterisk-guard check-config --config ${o.configFile}\``));
    return results;
  }
  results.push(...(await amiChecks(config)));
  results.push(...identifiedCheck(config));
  results.push(...asteriskLogChecks(config));
  results.push(...(await firewallChecks(config, o.runner)));
  results.push(storeCheck(config));
  results.push(...(await fleetCheck(config)));
  results.push(...(await daemonChecks(config)));
  results.push(...(await channelChecks(config, o.sendTest)));
  results.push(...(await otherDefenders(o.runner, o.proc ?? '/proc')));
  return results;
}

/** Does each followed log get the NOTICE lines failures are written as, and does IAX2 write its own? */
export function asteriskLogChecks(config: Config, hostname = os.hostname()): CheckResult[] {
  const etc = path.dirname(config.ami.manager_conf);
  if (config.asterisk_log === undefined) {
    return [{ check: 'asterisk log', status: 'info', detail: "asterisk_log is off: failures only Asterisk's log tells (an anonymous endpoint's calls to nowhere, AMI over HTTP digest, IAX2) are not seen", fix: 'add asterisk_log: { files: [/var/log/asterisk/messages.log] } (README, "Asterisk\'s own log")' }];
  }
  let channels: ReturnType<typeof loggerChannels>;
  try {
    channels = loggerChannels(etc, hostname);
  } catch (e) {
    return [fail('asterisk log', message(e), 'fix logger.conf at the line named, then `asterisk -rx "logger reload"`')];
  }
  const files = channels.filter((c) => !c.syslog);
  const results = config.asterisk_log.files.map((file) => {
    const channel = files.find((c) => c.file === file);
    if (channel === undefined) {
      return fail('asterisk log', `${etc}/logger.conf writes no ${file}; its files: ${files.map((c) => c.file).join(', ') || 'none'}`, `add \`${path.basename(file)} => notice,warning,error\` under [logfiles], then \`asterisk -rx "logger reload"\`, or name one of its files in asterisk_log.files`);
    }
    return getsNotices(channel)
      ? ok('asterisk log', `${file} gets NOTICE lines (${channel.levels.join(',')})`)
      : fail('asterisk log', `${file} gets ${channel.levels.join(',')} but not notice: the failures are NOTICE lines`, `add notice to its line in ${etc}/logger.conf [logfiles], then \`asterisk -rx "logger reload"\``);
  });
  if (config.asterisk_log.journal) {
    const syslog = channels.filter((c) => c.syslog && getsNotices(c));
    results.push(
      syslog.length > 0
        ? ok('asterisk log', `the journal gets NOTICE lines through ${syslog.map((c) => c.file).join(', ')}`)
        : fail('asterisk log', `${etc}/logger.conf sends no NOTICE lines to syslog, so the journal has none under ${config.asterisk_log.journal.identifier}`, 'add `syslog.local0 => notice,warning,error` under [logfiles], then `asterisk -rx "logger reload"`'),
    );
  }
  const authdebug = iaxAuthDebug(etc);
  if (authdebug === false) results.push(fail('iax2 authdebug', `${etc}/iax.conf has no authdebug = yes: chan_iax2 logs no failed IAX2 login, and raises no security event`, 'set authdebug = yes under [general] in iax.conf, then `asterisk -rx "iax2 reload"`'));
  if (authdebug === true) results.push(ok('iax2 authdebug', 'chan_iax2 logs its failed logins (authdebug = yes)'));
  return results;
}

/** Trunks Asterisk identifies by address are never banned: a forged packet must not cut one off. */
function identifiedCheck(config: Config): CheckResult[] {
  if (!config.policy.spare_identified) return [];
  let found;
  try {
    found = readIdentifiedAddresses(path.dirname(config.ami.manager_conf));
  } catch (e) {
    return [fail('identified trunks', message(e), 'fix pjsip.conf at the line named')];
  }
  const { addresses, hostnames } = found;
  if (addresses.length === 0 && hostnames.length === 0) return [];
  const list = addresses.map((a) => `${a.prefix.text} (${a.section})`).join(', ');
  return [
    ok('identified trunks', `never banned, as Asterisk identifies them by address: ${list || 'none by address'}${hostnames.length ? `; by host name, not spared: ${hostnames.join(', ')}` : ''}`),
  ];
}

/**
 * Fleet mode: can this node reach Redis as its user, and read and write the fleet's keys? The
 * link's commands on them, scripts included (its reads and writes are Lua): an ACL that lacks
 * a command, a category or the key pattern says so.
 */
export async function fleetCheck(config: Config): Promise<CheckResult[]> {
  const fleet = config.fleet;
  if (!fleet) return [];
  const where = fleet.redis.replace(/\/\/[^@/]*@/, '//');
  const { createClient } = await import('redis');
  const { redisClientOptions } = await import('../fleet/redis-options.js');
  let client;
  try {
    client = createClient({ ...redisClientOptions(fleet, false), disableOfflineQueue: true });
  } catch (e) {
    return [fail('fleet', message(e), 'fix fleet.ca')];
  }
  client.on('error', () => {});
  try {
    await client.connect();
    await client.sendCommand(['EVAL', "return redis.call('XLEN', KEYS[1])", '1', 'asterisk-guard:{fleet}:bans']);
    await client.sendCommand(['ZSCORE', 'asterisk-guard:{fleet}:expiry', 'doctor']);
    await client.sendCommand(['HSET', 'asterisk-guard:{fleet}:doctor', 'node', fleet.node]);
    await client.sendCommand(['DEL', 'asterisk-guard:{fleet}:doctor']);
    return [ok('fleet', `Redis at ${where} answers node ${fleet.node}, and its user may read and write the fleet's keys`)];
  } catch (e) {
    return [fail('fleet', `Redis at ${where}: ${message(e)}`, 'check fleet.redis (host, port, user, password; rediss:// for TLS) and the ACL in docs/fleet.md')];
  } finally {
    if (client.isOpen) client.destroy();
  }
}

/** What only the running daemon knows (the last canary, the kernel's table, the fleet link): each part's own checks. */
async function daemonChecks(config: Config): Promise<CheckResult[]> {
  const socket = config.control.socket;
  try {
    const status = (await request(socket, { cmd: 'status' }, 5000)) as { checks?: unknown };
    if (!Array.isArray(status.checks)) return [{ check: 'daemon', status: 'info', detail: `the daemon on ${socket} reports no checks: it runs an older asterisk-guard; restart it to run this version` }];
    return status.checks as CheckResult[];
  } catch (e) {
    return [{ check: 'daemon', status: 'info', detail: `not reachable on ${socket} (${message(e)}): the canary and the kernel's table are checked only while it runs` }];
  }
}

async function amiChecks(config: Config): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  let options: ReturnType<typeof resolveAmiOptions>;
  try {
    options = resolveAmiOptions(config);
    out.push(ok('ami user', `[${options.username}] found in ${options.source}, with read = security`));
  } catch (e) {
    out.push(fail('ami user', message(e), 'add asterisk-guard\'s section to manager.conf (`asterisk-guard init` prints it)'));
    return out;
  }
  if (options.source !== 'config') out.push(eventfilterCheck(config.ami.manager_conf, options.username));
  if (config.fraud && options.source !== 'config') out.push(fraudRightsCheck(config.ami.manager_conf, options.username));
  const client = new AmiClient({ ...options, reconnectBaseMs: 60_000, reconnectMaxMs: 60_000 });
  const where = `${options.host}:${options.port}`;
  // A timer that keeps the process alive: the client's own timers never do.
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.start(),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no AMI login answer from ${where} within ${options.loginTimeoutMs} ms`)), options.loginTimeoutMs + 500))),
    ]);
    out.push(ok('ami login', `logged in to ${where} as ${options.username} (${options.tls ? 'TLS' : 'TCP'})`));
  } catch (e) {
    out.push(fail('ami login', message(e), `is Asterisk running and listening on ${where}? \`asterisk -rx "manager show settings"\`; then check the secret and permit lines of [${options.username}]`));
  } finally {
    clearTimeout(timer);
    await client.stop();
  }
  return out;
}

function fraudRightsCheck(managerConf: string, username: string): CheckResult {
  const problems = callRightsProblems(managerConf, username);
  if (problems.length === 0) return ok('toll-fraud rights', `[${username}] reads call events and may hang up and block (read = call, write = system)`);
  return fail('toll-fraud rights', problems.join('; '), 'turn on the `;toll-fraud` lines of asterisk-conf/manager.d/asterisk-guard.conf in that section (docs/fraud.md), then `asterisk -rx "manager reload"`');
}

/** Without eventfilter lines Asterisk sends every security event, ChallengeSent included. */
function eventfilterCheck(managerConf: string, username: string): CheckResult {
  const entries = readAsteriskConf(managerConf)
    .filter((s) => s.name === username && !s.isTemplate)
    .flatMap((s) => s.entries);
  const filters = entries.filter((e) => e.key.startsWith('eventfilter'));
  if (filters.length > 0) return ok('eventfilter', `[${username}] has ${filters.length} eventfilter lines`);
  return fail(
    'eventfilter',
    `[${username}] has no eventfilter: Asterisk sends it every security event, half of them ChallengeSent that the guard drops`,
    'add the eventfilter lines of asterisk-conf/manager.d/asterisk-guard.conf, then `asterisk -rx "manager reload"`',
  );
}

async function firewallChecks(config: Config, runner: CommandRunner): Promise<CheckResult[]> {
  if (config.firewall.driver === 'dry-run') return [ok('firewall', 'dry-run driver: nothing is banned in the kernel')];
  const out: CheckResult[] = [];
  const run = async (command: string, args: readonly string[]) => {
    try {
      return await runner.run(command, args);
    } catch (e) {
      return { exitCode: -1, stdout: '', stderr: message(e) };
    }
  };
  const nft = await run('nft', ['list', 'tables']);
  out.push(
    nft.exitCode === 0
      ? ok('nft', 'nft runs and may change this network namespace\'s rules')
      : fail('nft', `nft list tables: ${nft.stderr.trim() || `exit ${nft.exitCode}`}`, nft.exitCode === -1 ? 'apt-get install nftables' : 'run as root, or with CAP_NET_ADMIN (the systemd unit grants it)'),
  );
  const conntrack = await run('conntrack', ['-C']);
  out.push(
    conntrack.exitCode === 0
      ? ok('conntrack', `conntrack runs (${conntrack.stdout.trim()} flows tracked)`)
      : fail('conntrack', `conntrack -C: ${conntrack.stderr.trim() || `exit ${conntrack.exitCode}`}`, conntrack.exitCode === -1 ? 'apt-get install conntrack' : 'run as root, or with CAP_NET_ADMIN'),
  );
  // A built-in nf_tables has no /sys/module entry: the kernel answering nft proves it too.
  out.push(
    nft.exitCode === 0 || existsSync('/sys/module/nf_tables')
      ? ok('nf_tables', nft.exitCode === 0 ? 'nf_tables answers' : 'nf_tables is loaded')
      : fail('nf_tables', `nft got no answer and /sys/module/nf_tables is missing: ${nft.stderr.trim()}`, 'modprobe nf_tables (Debian kernels have it)'),
  );
  const conntrackMax = '/proc/sys/net/netfilter/nf_conntrack_max';
  out.push(existsSync(conntrackMax) ? ok('nf_conntrack', `nf_conntrack is loaded (${conntrackMax})`) : fail('nf_conntrack', `${conntrackMax} is missing: the kernel has no connection tracking here`, 'modprobe nf_conntrack'));
  const { table, priority } = config.firewall;
  const chain = await run('nft', ['-j', 'list', 'chain', 'inet', table, 'prerouting']);
  if (chain.exitCode !== 0) {
    out.push(fail('our table', `inet ${table} has no prerouting chain: nothing is banned in the kernel`, 'start the daemon (`systemctl start asterisk-guard`); it creates the table'));
  } else {
    const hook = (JSON.parse(chain.stdout) as { nftables: Array<{ chain?: { hook?: string; prio?: number } }> }).nftables.find((x) => x.chain)?.chain;
    out.push(
      hook?.hook === 'prerouting' && hook.prio === priority
        ? ok('our table', `inet ${table}: prerouting chain at priority ${priority}, before conntrack`)
        : fail('our table', `inet ${table}'s chain hooks ${hook?.hook} at priority ${hook?.prio}, not prerouting at ${priority}`, 'restart the daemon: it repairs its own table'),
    );
  }
  return out;
}

function storeCheck(config: Config): CheckResult {
  const file = config.store.path;
  const target = existsSync(file) ? file : path.dirname(file);
  try {
    accessSync(target, constants.W_OK);
    return ok('store', `${file} is writable`);
  } catch (e) {
    return fail('store', `${target} is not writable: ${(e as Error).message}`, `give the daemon's user write access to ${path.dirname(file)} (the systemd unit's StateDirectory does), or set store.path`);
  }
}

async function channelChecks(config: Config, sendTest: boolean): Promise<CheckResult[]> {
  const channels = buildChannels(config);
  const out: CheckResult[] = [];
  for (const [i, c] of config.alerts.channels.entries()) {
    const name = channels[i]!.name;
    const { host, port } = c.type === 'email' ? { host: c.host, port: c.port } : urlHostPort(c.url);
    try {
      if (sendTest) {
        const test = systemAlert('test', Date.now(), 'test alert from asterisk-guard doctor --send-test: alerts reach you');
        await channels[i]!.send({ subject: test.title, lines: test.lines, alerts: [test] });
        out.push(ok(`alerts: ${name}`, 'test alert sent'));
      } else {
        await tcpReachable(host, port);
        out.push(ok(`alerts: ${name}`, `${host}:${port} accepts connections (\`doctor --send-test\` sends a test alert)`));
      }
    } catch (e) {
      out.push(fail(`alerts: ${name}`, `${host}:${port}: ${(e as Error).message}`, 'check the channel\'s host, port and credentials in alerts.channels'));
    }
  }
  return out;
}

function urlHostPort(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(u.port) || (u.protocol === 'https:' ? 443 : 80) };
}

function tcpReachable(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, timeout: 5000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(new Error('no answer within 5 s'));
    });
    socket.once('error', reject);
  });
}

const DEFENDERS: ReadonlyArray<{ name: string; process: RegExp; tables: RegExp }> = [
  { name: 'fail2ban', process: /^fail2ban-server$/, tables: /^table (inet|ip|ip6) (f2b-table)$/ },
  { name: 'CrowdSec', process: /^(crowdsec|crowdsec-firewa|cs-firewall-bou)/, tables: /^table (inet|ip|ip6) (crowdsec6?)$/ },
];

/** fail2ban or CrowdSec beside us: their tables, and whether they guard SIP too. */
async function otherDefenders(runner: CommandRunner, proc: string): Promise<CheckResult[]> {
  const running = new Set<string>();
  for (const pid of safeList(proc)) {
    if (!/^\d+$/.test(pid)) continue;
    let comm = '';
    try {
      comm = readFileSync(path.join(proc, pid, 'comm'), 'utf8').trim();
    } catch {
      continue;
    }
    for (const d of DEFENDERS) if (d.process.test(comm)) running.add(d.name);
  }
  const tables = await runner.run('nft', ['list', 'tables']).catch(() => ({ exitCode: 1, stdout: '', stderr: '' }));
  const out: CheckResult[] = [];
  for (const d of DEFENDERS) {
    const theirs = tables.stdout.split('\n').map((l) => l.trim()).filter((l) => d.tables.test(l));
    if (!running.has(d.name) && theirs.length === 0) continue;
    let sip = '';
    for (const t of theirs) {
      const [, family, name] = d.tables.exec(t)!;
      const rules = await runner.run('nft', ['list', 'table', family!, name!]).catch(() => ({ exitCode: 1, stdout: '', stderr: '' }));
      if (/dport \{?[^}\n]*\b506[01]\b/.test(rules.stdout)) sip = ' and drops on the SIP port (5060/5061) too: both act on the same traffic, which works (their tables are apart); expect its bans to repeat some of ours';
    }
    out.push({ check: d.name, status: 'info', detail: `${d.name} is ${running.has(d.name) ? 'running' : 'not running'}; its nft tables: ${theirs.map((t) => t.slice(6)).join(', ') || 'none'}${sip}` });
  }
  return out;
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** One line per check, with its fix when it failed. */
export function formatCheck(r: CheckResult): string {
  const mark = r.status === 'ok' ? 'ok  ' : r.status === 'fail' ? 'FAIL' : 'info';
  return `${mark} ${r.check}: ${r.detail}${r.fix ? `\n     fix: ${r.fix}` : ''}`;
}
