import Database from 'better-sqlite3';
import { appendFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { request } from '../src/control/client.js';
import type { FleetPbx } from './fleet-lab.js';
import { FAULTS, type Fault } from './soak-faults.js';
import { PBX_NAMES, PHONES, SoakLab } from './soak-lab.js';
import { xorshift32 } from './xorshift.js';
import { resourceProblems, trend, type ResourceTrend, type Sample } from './soak-trend.js';
import { sendWave, WAVE_KINDS, type WaveKind, type WaveResult } from './soak-waves.js';

// `npm run soak [-- --minutes N] [-- --seed S]` (issue 28): a day of faults in twenty minutes.
// The fleet lab under attack waves, phones registering and calling throughout, and a nemesis
// that injects one fault at a time on a schedule drawn from the seed. Everything is measured
// from outside the guards: the attackers' answered tries, the phones' REGISTERs and calls, the
// kernels' sets, the stores' files, the webhooks' inboxes, /proc.

type Say = (line: string) => void;

export interface SoakOptions {
  readonly minutes: number;
  readonly seed: number;
  /** The fault and wave kinds drawn from (default: all). */
  readonly faults?: readonly string[];
  readonly waves?: readonly WaveKind[];
  readonly say: Say;
  readonly cacheDir?: string;
  /** Ctrl-C: the run ends after the fault in hand, and the lab is torn down. */
  readonly signal?: AbortSignal;
  /**
   * The PBX whose guard no guard-kill fault draws: one process that lives the whole run under
   * every other fault, for a long run's memory trend (a SIGKILL starts the slope again).
   */
  readonly witness?: FleetPbx;
}

export interface FaultRun {
  readonly fault: string;
  readonly pbx: FleetPbx;
  readonly wave: WaveKind;
  /** Guesses the wave sent while the fault held got through, and the same wave's with no fault. */
  readonly during: number;
  readonly control: number;
  readonly alert: 'delivered' | 'missing' | 'not needed';
  readonly alertKinds: readonly string[];
  readonly from: number;
  readonly to: number;
}

export interface SoakReport {
  readonly seed: number;
  readonly minutes: number;
  /** The options that run the same schedule again. */
  readonly again: string;
  readonly runs: readonly FaultRun[];
  readonly phones: { readonly registrations: number; readonly failed: number; readonly failedWhileUnreachable: number; readonly calls: number; readonly callsFailed: number; readonly failures: readonly string[] };
  readonly bans: { readonly decided: number; readonly inForce: number; readonly lost: readonly string[] };
  readonly latency: { readonly duringP99: number | null; readonly betweenP99: number | null; readonly during: number; readonly between: number };
  readonly resources: readonly ResourceTrend[];
  readonly verdict: { readonly ok: boolean; readonly problems: readonly string[] };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  // The schedule from the seed, the same on every machine.
  const rnd = xorshift32(o.seed);
  const say = o.say;
  const lab = await SoakLab.up({ say, swarms: Math.min(256, Math.max(4, Math.ceil(o.minutes * 1.5))), cacheDir: o.cacheDir });
  try {
    const faults = FAULTS.filter((f) => o.faults?.includes(f.kind) ?? true);
    const waves = o.waves ?? WAVE_KINDS;
    say(`soak: seed ${o.seed}, ${o.minutes} min; three PBXs in a fleet, two phones, ${faults.length} fault kinds, ${waves.length} wave kinds`);
    const stop = { now: false };
    const phones = phoneLoops(lab, stop);
    const samplesFile = path.join(tmpdir(), 'asterisk-guard-soak-resources.jsonl');
    const samples = sampleResources(lab, stop, samplesFile);
    const runs: FaultRun[] = [];
    const end = Date.now() + o.minutes * 60_000;
    while (Date.now() < end && o.signal?.aborted !== true) {
      const fault = faults[rnd(faults.length)]!;
      const drawn = fault.kind === 'guard-kill' ? PBX_NAMES.filter((n) => n !== o.witness) : PBX_NAMES;
      const pbx = fault.only ?? drawn[rnd(drawn.length)]!;
      const wave = waves[rnd(waves.length)]!;
      runs.push(await faultRun(lab, fault, pbx, wave, say));
      await sleep(1000 + rnd(3000));
    }
    stop.now = true;
    const phoneTally = await phones;
    const trends = await samples;
    // Let the last retries land (store writes, kernel repairs) before counting what is lost.
    await sleep(5000);
    const bans = await lostBans(lab);
    const latency = latencies(lab, runs);
    // The guards' own story, every process of each, for a closer look at what went wrong.
    for (const n of PBX_NAMES) {
      const file = path.join(tmpdir(), `asterisk-guard-soak-${n}.log`);
      writeFileSync(file, `${lab.guardLines(n).map((l) => JSON.stringify(l)).join('\n')}\n`);
      say(`${n}'s guard log: ${file}`);
    }
    say(`the guards' resources every 5 s: ${samplesFile}`);
    const narrowed = [o.faults ? ` --faults ${o.faults.join(',')}` : '', o.waves ? ` --waves ${o.waves.join(',')}` : '', o.witness ? ` --witness ${o.witness}` : ''].join('');
    const again = `--minutes ${o.minutes} --seed ${o.seed}${narrowed}`;
    const report: SoakReport = { seed: o.seed, minutes: o.minutes, again, runs, phones: phoneTally, bans, latency, resources: trends, verdict: { ok: true, problems: [] } };
    return { ...report, verdict: judge(report) };
  } finally {
    await lab.down();
  }
}

async function faultRun(lab: SoakLab, fault: Fault, pbx: FleetPbx, kind: WaveKind, say: Say): Promise<FaultRun> {
  const alertsBefore = new Map(PBX_NAMES.map((n) => [n, lab.alerts(n).length]));
  const from = Date.now();
  say(`fault ${fault.kind} on ${fault.kind === 'redis-kill' ? 'the fleet' : pbx}; a ${kind} wave at ${pbx} while it holds`);
  const outage: SoakLab['outages'][number] | undefined = fault.outage ? { pbx, from } : undefined;
  if (outage) lab.outages.push(outage);
  await fault.inject(lab, pbx);
  let during = await sendWave(lab, kind, pbx);
  // A swarm wave needs a fresh /24: past the last, an svcrack wave.
  if (during === undefined) during = (await sendWave(lab, 'svcrack', pbx))!;
  await fault.heal?.(lab, pbx);
  const to = Date.now();
  if (outage) outage.to = to;
  const alert = await awaitAlert(lab, fault, pbx, during, alertsBefore);
  await sleep(2000);
  const control = (await sendWave(lab, during.kind, pbx)) ?? (await sendWave(lab, 'svcrack', pbx))!;
  for (const w of [during, control]) if (w.note) say(`  ${w.note}`);
  say(`  ${during.answered} ${during.kind === 'toll-fraud' ? 'fraudulent calls connected' : 'guesses got through'} while it held (the same wave with no fault: ${control.answered}); alert: ${alert}`);
  return { fault: fault.kind, pbx, wave: during.kind, during: during.answered, control: control.answered, alert, alertKinds: fault.alerts, from, to };
}

/** Did the admins hear of it? Up to 40 s after the fault is healed (the lab's retries: 1, 2, 5, 10, 20 s). */
async function awaitAlert(lab: SoakLab, fault: Fault, pbx: FleetPbx, wave: WaveResult, before: ReadonlyMap<FleetPbx, number>): Promise<FaultRun['alert']> {
  // The webhook down: the alerts of the wave sent meanwhile (its bans) arrive once it is back.
  const wanted = fault.kind === 'webhook-down' ? (a: { kind: string }) => a.kind === 'ban' || a.kind === 'subnet-ban' : (a: { kind: string }) => fault.alerts.includes(a.kind);
  if (fault.kind !== 'webhook-down' && fault.alerts.length === 0) return 'not needed';
  if (fault.kind === 'webhook-down' && wave.answered === 0) return 'not needed';
  const where = fault.kind === 'redis-kill' ? PBX_NAMES : [pbx];
  for (let i = 0; i < 80; i++) {
    if (where.some((n) => lab.alerts(n).slice(before.get(n)).some(wanted))) return 'delivered';
    await sleep(500);
  }
  return 'missing';
}

/** The phones register every 5 s and call every 30 s, all along. */
async function phoneLoops(lab: SoakLab, stop: { now: boolean }): Promise<SoakReport['phones']> {
  const tally = { registrations: 0, failed: 0, failedWhileUnreachable: 0, calls: 0, callsFailed: 0, failures: [] as string[] };
  await Promise.all(
    PHONES.map(async (phone) => {
      let last = 0;
      while (!stop.now) {
        const at = Date.now();
        const ok = await lab.register(phone);
        tally.registrations++;
        if (!ok) {
          if (lab.unreachableBetween(phone.pbx, at - 1000, Date.now())) tally.failedWhileUnreachable++;
          else {
            tally.failed++;
            tally.failures.push(`${new Date(at).toISOString()} REGISTER of ${phone.account.user} at ${phone.pbx} failed`);
          }
        }
        if (Date.now() - last > 30_000) {
          last = Date.now();
          const event = await lab.call(phone, '02079460123');
          tally.calls++;
          if (event === 'failed' && !lab.unreachableBetween(phone.pbx, last - 1000, Date.now())) {
            tally.callsFailed++;
            tally.failures.push(`${new Date(last).toISOString()} call of ${phone.account.user} at ${phone.pbx}: ${event}`);
          }
        }
        await sleep(5000);
      }
    }),
  );
  return tally;
}

/**
 * Each guard's RSS, open descriptors and child processes, every 5 s, from /proc; each sample
 * also a line of `file`, for a look at the trend in other windows than the report's.
 */
async function sampleResources(lab: SoakLab, stop: { now: boolean }, file: string): Promise<ResourceTrend[]> {
  const samples = new Map<FleetPbx, Sample[]>(PBX_NAMES.map((n) => [n, []]));
  writeFileSync(file, '');
  while (!stop.now) {
    for (const n of PBX_NAMES) {
      const pid = lab.guard(n).child.pid;
      if (pid === undefined) continue;
      try {
        const status = readFileSync(`/proc/${pid}/status`, 'utf8');
        const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
        const fds = readdirSync(`/proc/${pid}/fd`).length;
        const children = readdirSync(`/proc/${pid}/task`).reduce((k, t) => k + readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).length, 0);
        const memory = await guardMemory(path.join(lab.fleet.members.get(n)!.dir, 'control.sock'));
        const sample = { pid, at: Date.now(), rssKb, ...memory, fds, children };
        samples.get(n)!.push(sample);
        appendFileSync(file, `${JSON.stringify({ pbx: n, ...sample })}\n`);
      } catch {
        // The process ended between the listing and the read (a guard-kill fault).
      }
    }
    await sleep(5000);
  }
  return PBX_NAMES.map((n) => trend(n, samples.get(n)!));
}

/** What the guard's `status` says of its memory, in MB (NaN: no answer in time). */
async function guardMemory(socket: string): Promise<{ heapMb: number; heapTotalMb: number; externalMb: number }> {
  try {
    const status = (await request(socket, { cmd: 'status' }, 2000)) as { memory?: { heap_used_bytes?: number; heap_total_bytes?: number; external_bytes?: number } };
    const mb = (x: number | undefined) => (x ?? NaN) / 1048576;
    return { heapMb: mb(status.memory?.heap_used_bytes), heapTotalMb: mb(status.memory?.heap_total_bytes), externalMb: mb(status.memory?.external_bytes) };
  } catch {
    return { heapMb: NaN, heapTotalMb: NaN, externalMb: NaN };
  }
}

/**
 * Every ban decided and not yet ended (from the guards' own log lines, every process of each)
 * must be in every PBX's kernel and in every PBX's store.
 */
async function lostBans(lab: SoakLab): Promise<SoakReport['bans']> {
  const now = Date.now();
  const until = new Map<string, number>();
  let decided = 0;
  for (const n of PBX_NAMES) {
    for (const l of lab.guardLines(n)) {
      if (typeof l.msg !== 'string' || typeof l.time !== 'number') continue;
      if (l.msg.startsWith('ban ')) {
        decided++;
        const seconds = l['bantime_s'] as number | null;
        const end = seconds === null ? Infinity : l.time + seconds * 1000;
        until.set(l.msg.slice(4), Math.max(until.get(l.msg.slice(4)) ?? 0, end));
      } else if (l.msg.startsWith('unban ')) until.delete(l.msg.slice(6));
    }
  }
  // A margin: a ban ending within the next 30 s may be gone by the time it is looked for.
  const inForce = [...until].filter(([, end]) => end > now + 30_000).map(([prefix]) => prefix);
  const lost: string[] = [];
  for (const n of PBX_NAMES) {
    const kernel = await lab.kernelBans(n);
    const stored = storedBans(path.join(lab.fleet.members.get(n)!.dir, 'state.db'), now);
    for (const p of inForce) {
      if (!kernel.has(p)) lost.push(`${p} not in ${n}'s kernel`);
      if (!stored.has(p)) lost.push(`${p} not in ${n}'s store`);
    }
  }
  return { decided, inForce: inForce.length, lost };
}

function storedBans(file: string, now: number): Set<string> {
  try {
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      return new Set((db.prepare('SELECT prefix FROM bans WHERE lifted IS NULL AND (until IS NULL OR until > ?)').all(now) as Array<{ prefix: string }>).map((r) => r.prefix));
    } finally {
      db.close();
    }
  } catch {
    return new Set();
  }
}

/** Event -> drop in the kernel, p99, for bans decided while a fault held and between faults. */
function latencies(lab: SoakLab, runs: readonly FaultRun[]): SoakReport['latency'] {
  const during: number[] = [];
  const between: number[] = [];
  for (const n of PBX_NAMES) {
    for (const l of lab.guardLines(n)) {
      const ms = (l['latency_ms'] as { kernel?: number } | undefined)?.kernel;
      if (typeof ms !== 'number' || typeof l.time !== 'number' || l['origin'] !== 'auto') continue;
      // While a fault held (and the second after its healing), or any other time: the control waves.
      (runs.some((r) => l.time! >= r.from && l.time! <= r.to + 1000) ? during : between).push(ms);
    }
  }
  const p99 = (xs: number[]) => (xs.length === 0 ? null : [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))]!);
  return { duringP99: p99(during), betweenP99: p99(between), during: during.length, between: between.length };
}

function judge(r: SoakReport): SoakReport['verdict'] {
  const problems: string[] = [];
  if (r.phones.failed > 0) problems.push(`${r.phones.failed} REGISTERs of the phones failed while their PBX was reachable`);
  if (r.phones.callsFailed > 0) problems.push(`${r.phones.callsFailed} calls of the phones failed`);
  if (r.bans.lost.length > 0) problems.push(`${r.bans.lost.length} bans lost (${r.bans.lost.slice(0, 3).join('; ')})`);
  const missing = r.runs.filter((x) => x.alert === 'missing');
  if (missing.length > 0) problems.push(`no alert for ${missing.length} faults (${[...new Set(missing.map((m) => m.fault))].join(', ')})`);
  for (const t of r.resources) problems.push(...resourceProblems(t));
  return { ok: problems.length === 0, problems };
}

/** The report for people: a table per fault kind, the rest, and the verdict with the seed. */
export function formatReport(r: SoakReport): string[] {
  const lines: string[] = [];
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  lines.push('| fault | runs | tries through while it held: median (max) | the same waves, no fault: median (max) | alerts delivered / needed |');
  lines.push('|---|---|---|---|---|');
  for (const kind of [...new Set(r.runs.map((x) => x.fault))].sort()) {
    const rs = r.runs.filter((x) => x.fault === kind);
    const needed = rs.filter((x) => x.alert !== 'not needed');
    lines.push(`| ${kind} | ${rs.length} | ${med(rs.map((x) => x.during))} (${Math.max(...rs.map((x) => x.during))}) | ${med(rs.map((x) => x.control))} (${Math.max(...rs.map((x) => x.control))}) | ${needed.length === 0 ? 'none needed' : `${needed.filter((x) => x.alert === 'delivered').length} / ${needed.length}`} |`);
  }
  lines.push('');
  lines.push('(tries: the guesses Asterisk answered; for a toll-fraud wave, the fraudulent calls the carrier answered)');
  const p = r.phones;
  lines.push('');
  lines.push(`phones: ${p.registrations} REGISTERs, ${p.failed} failed while their PBX was reachable (${p.failedWhileUnreachable} more while a fault had it down or dropping every new flow); ${p.calls} calls, ${p.callsFailed} failed`);
  lines.push(`bans: ${r.bans.decided} decided, ${r.bans.inForce} in force at the end, lost: ${r.bans.lost.length}${r.bans.lost.length ? ` (${r.bans.lost.slice(0, 5).join('; ')})` : ''}`);
  const ms = (x: number | null) => (x === null ? '-' : `${x.toFixed(1)} ms`);
  lines.push(`event -> drop p99: ${ms(r.latency.duringP99)} while faults held (${r.latency.during} bans), ${ms(r.latency.betweenP99)} between (${r.latency.between})`);
  for (const t of r.resources) {
    if (t.minutes === 0) {
      lines.push(`${t.pbx}'s guard: no process lived a minute past its start (not judged); open files at most ${t.fdsMax}, child processes at most ${t.childrenMax}`);
      continue;
    }
    const rate = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(1)} MB/h`;
    if (t.quarterHours.length >= 3) {
      const each = (f: (q: ResourceTrend['quarterHours'][number]) => number) => t.quarterHours.map((q) => f(q).toFixed(0)).join(', ');
      lines.push(`${t.pbx}'s guard every 15 min: RSS ${each((q) => q.rssMb)} MB; heap in use ${each((q) => q.heapMb)} MB; reserved ${each((q) => q.heapTotalMb)} MB`);
    }
    lines.push(`${t.pbx}'s guard over ${t.minutes.toFixed(1)} min: RSS ${t.rssFirstMb.toFixed(0)} -> ${t.rssLastMb.toFixed(0)} MB (${rate(t.rssSlopeMbPerHour)}; later half ${rate(t.rssLateSlopeMbPerHour)}), heap in use ${t.heapFirstMb.toFixed(0)} -> ${t.heapLastMb.toFixed(0)} MB (${rate(t.heapSlopeMbPerHour)}), reserved ${t.heapTotalMb[0].toFixed(0)} -> ${t.heapTotalMb[1].toFixed(0)} MB, outside V8 ${t.externalMb[0].toFixed(0)} -> ${t.externalMb[1].toFixed(0)} MB, open files ${t.fdsFirst} -> ${t.fdsLast} (max ${t.fdsMax}), child processes at most ${t.childrenMax}`);
  }
  lines.push(`verdict (seed ${r.seed}, ${r.minutes} min): ${r.verdict.ok ? 'nothing lost, every fault told, resources flat' : `FAILED: ${r.verdict.problems.join('; ')}`}`);
  lines.push(`again with: npm run soak -- ${r.again}`);
  return lines;
}
