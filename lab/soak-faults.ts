import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { compiled } from './compiled.js';
import type { FleetPbx } from './fleet-lab.js';
import { SMALL_DISK, type SoakLab } from './soak-lab.js';

// The nemesis's faults (issue 28): each injected on one PBX (or the fleet's Redis), the next
// attack wave sent while it holds, then healed. `alerts`: the alert kinds of which one must
// reach the admins' webhook for it (none: the fault needs none, or cannot be told).

export interface Fault {
  readonly kind: string;
  /** Only on this PBX (the one whose state is on the small tmpfs). */
  readonly only?: FleetPbx;
  readonly alerts: readonly string[];
  /** While it holds the PBX drops every new flow: the phones' failures then are the fault's own. */
  readonly outage?: boolean;
  inject(lab: SoakLab, pbx: FleetPbx): Promise<void>;
  heal?(lab: SoakLab, pbx: FleetPbx): Promise<void>;
}

const member = (lab: SoakLab, pbx: FleetPbx) => lab.fleet.members.get(pbx)!;
const stateFile = (lab: SoakLab, pbx: FleetPbx) => path.join(member(lab, pbx).dir, 'state.db');
const guardUser = (lab: SoakLab, pbx: FleetPbx) => path.join(path.dirname(member(lab, pbx).asterisk.managerConf), 'manager.d', 'asterisk-guard.conf');
const saved = new Map<FleetPbx, string>();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** How long the filler's flows are kept (seconds; the kernel's default is 120). */
const FILLED_FOR_S = 3600;

/** Did the filler's last line say the table is full (`{"entries":N,"max":M}`, N at M)? */
function filled(stdout: string): boolean {
  try {
    const { entries, max } = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as { entries?: unknown; max?: unknown };
    return typeof entries === 'number' && typeof max === 'number' && entries >= max;
  } catch {
    return false;
  }
}

export const FAULTS: readonly Fault[] = [
  {
    kind: 'asterisk-restart',
    alerts: ['ami-lost'],
    async inject(lab, pbx) {
      await member(lab, pbx).asterisk.stop();
      await member(lab, pbx).asterisk.start();
    },
  },
  {
    kind: 'asterisk-kill',
    alerts: ['ami-lost'],
    async inject(lab, pbx) {
      await member(lab, pbx).asterisk.kill();
      await member(lab, pbx).asterisk.start();
    },
  },
  {
    kind: 'guard-kill',
    // Nothing is left to tell it: the restarted guard's bans are what count.
    alerts: [],
    async inject(lab, pbx) {
      lab.guard(pbx).kill('SIGKILL');
      await lab.guard(pbx).exit();
      await lab.restartGuard(pbx);
    },
  },
  {
    kind: 'redis-kill',
    alerts: ['fleet-lost'],
    inject: (lab) => lab.fleet.redis.kill(),
    heal: (lab) => lab.fleet.redis.up(),
  },
  {
    kind: 'ruleset-flush',
    alerts: ['table-restored'],
    async inject(lab, pbx) {
      await lab.exec(pbx, 'nft', ['flush', 'ruleset']);
    },
  },
  {
    kind: 'table-delete',
    alerts: ['table-restored'],
    async inject(lab, pbx) {
      await lab.exec(pbx, 'nft', ['delete', 'table', 'inet', 'asterisk_guard']);
    },
  },
  {
    kind: 'store-delete',
    alerts: ['store-recreated'],
    async inject(lab, pbx) {
      for (const suffix of ['', '-wal', '-shm']) rmSync(`${stateFile(lab, pbx)}${suffix}`, { force: true });
    },
  },
  {
    kind: 'store-replace',
    alerts: ['store-recreated', 'store-failing'],
    async inject(lab, pbx) {
      const file = stateFile(lab, pbx);
      writeFileSync(`${file}.other`, 'not a database, put here by someone else\n'.repeat(100));
      renameSync(`${file}.other`, file);
    },
  },
  {
    kind: 'disk-full',
    only: SMALL_DISK,
    // Told by the room watch within 10 s, or by the first write refused, whichever comes first.
    alerts: ['store-disk-low', 'store-failing'],
    async inject(lab, pbx) {
      // Every free block of the tmpfs taken (dd stops at ENOSPC).
      await lab.exec(pbx, 'dd', ['if=/dev/zero', `of=${path.join(member(lab, pbx).dir, 'filler')}`, 'bs=64k']);
      // Long enough for the guard's look at the room (every 10 s): a wave that writes nothing
      // (a blocklisted source's) ended within it, and the full disk went by unseen.
      await sleep(11_000);
    },
    async heal(lab, pbx) {
      rmSync(path.join(member(lab, pbx).dir, 'filler'), { force: true });
    },
  },
  {
    kind: 'read-security-removed',
    alerts: ['canary-missing'],
    async inject(lab, pbx) {
      const file = guardUser(lab, pbx);
      const original = readFileSync(file, 'utf8');
      saved.set(pbx, original);
      writeFileSync(file, original.replace(/^read = .*$/gm, 'read = system'));
      // The guard's session keeps its rights until it logs in again: Asterisk restarted.
      await member(lab, pbx).asterisk.stop();
      await member(lab, pbx).asterisk.start();
      // Long enough for a canary to go unanswered (interval 5 s, timeout 3 s).
      await new Promise((r) => setTimeout(r, 9000));
    },
    async heal(lab, pbx) {
      writeFileSync(guardUser(lab, pbx), saved.get(pbx)!);
      await member(lab, pbx).asterisk.stop();
      await member(lab, pbx).asterisk.start();
    },
  },
  {
    kind: 'conntrack-full',
    alerts: ['conntrack-full'],
    outage: true,
    async inject(lab, pbx) {
      // The soak's PBXs have no stateful firewall (nothing is tracked, nothing could fill): this
      // fault gives one the usual `ct state established,related accept`, then fills its table.
      await lab.exec(pbx, 'nft', ['add table inet lab_stateful { chain input { type filter hook input priority 0; policy accept; ct state established,related accept; }; }']);
      await lab.exec(pbx, 'sysctl', ['-qw', `net.netfilter.nf_conntrack_udp_timeout_stream=${FILLED_FOR_S}`]);
      // The filler once died without a word 42 minutes into a run (nothing on stdout, and the run
      // with it): what it said is kept, and it is tried once more from an empty table.
      let failed = '';
      for (let attempt = 1; attempt <= 2; attempt++) {
        const r = await lab.exec(pbx, process.execPath, [compiled('lab/conntrack-fill.js')], 120_000);
        if (filled(String(r.stdout))) {
          if (failed) process.stderr.write(`conntrack-full on ${pbx}: the filler's first try failed (${failed}); the second filled the table\n`);
          // Long enough for the guard to look (firewall.check_interval: 10 s).
          await sleep(11_000);
          return;
        }
        failed = `${r.timedOut ? 'timed out after 120 s' : `exit ${r.exitCode ?? r.signal}`}: ${String(r.stdout).trim().slice(-200)} ${String(r.stderr).trim().slice(0, 400)}`;
        await lab.exec(pbx, 'conntrack', ['-F'], 60_000);
      }
      throw new Error(`conntrack-full on ${pbx}: the filler left room twice (${failed})`);
    },
    async heal(lab, pbx) {
      // The namespace's whole table (its flows are picked up again as they go on): deleting the
      // filler's 262,144 one by one takes seconds.
      await lab.exec(pbx, 'conntrack', ['-F'], 60_000);
      await lab.exec(pbx, 'nft', ['delete', 'table', 'inet', 'lab_stateful']);
      await lab.exec(pbx, 'sysctl', ['-qw', 'net.netfilter.nf_conntrack_udp_timeout_stream=120']);
    },
  },
  {
    kind: 'webhook-down',
    // Checked apart: the alerts of the wave sent while it was down arrive after it is back.
    alerts: [],
    inject: (lab, pbx) => lab.stopWebhook(pbx),
    heal: (lab, pbx) => lab.startWebhook(pbx),
  },
];
