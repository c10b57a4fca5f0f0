import { readFileSync } from 'node:fs';

// The kernel's connection tracking table, as the guard's network namespace sees it. When it is
// full, the kernel drops every packet that would start a new flow ("nf_conntrack: table full,
// dropping packet"): phones' registrations and calls never reach Asterisk, and nothing in
// Asterisk's logs says why. A flood from many sources fills it (each source a flow); the guard's
// drop at priority -310 comes before conntrack, so banned sources take no room.

export interface ConntrackLoad {
  readonly entries: number;
  readonly max: number;
  /** Packets the kernel dropped for want of room in the table since it loaded (all CPUs). */
  readonly drops: number;
}

const COUNT = '/proc/sys/net/netfilter/nf_conntrack_count';
const MAX = '/proc/sys/net/netfilter/nf_conntrack_max';
const STAT = '/proc/net/stat/nf_conntrack';

/**
 * The `drop` column of /proc/net/stat/nf_conntrack summed over its CPUs' lines (hexadecimal).
 * Throws, naming the file, on text of another shape: a kernel that changed it must be noticed.
 */
export function parseConntrackDrops(text: string): number {
  const [header, ...cpus] = text.split('\n').filter((l) => l.trim() !== '');
  const column = header?.trim().split(/\s+/).indexOf('drop') ?? -1;
  if (column < 0 || cpus.length === 0) throw new Error(`${STAT}: no "drop" column, or no line per CPU`);
  let drops = 0;
  for (const line of cpus) {
    const field = line.trim().split(/\s+/)[column];
    if (field === undefined || !/^[0-9a-f]+$/i.test(field)) throw new Error(`${STAT}: "${line.trim()}" has no hexadecimal count in the drop column`);
    drops += Number.parseInt(field, 16);
  }
  return drops;
}

/** Undefined when the namespace tracks no connections (no rule here uses conntrack: nothing to fill). */
export function readConntrackLoad(read: (file: string) => string = (f) => readFileSync(f, 'utf8')): ConntrackLoad | undefined {
  let entries: number;
  try {
    entries = Number(read(COUNT).trim());
  } catch {
    return undefined;
  }
  return { entries, max: Number(read(MAX).trim()), drops: parseConntrackDrops(read(STAT)) };
}

/** An alert is raised at this share of the table (early drop still makes room until it is full). */
const NEARLY_FULL = 0.95;
/** ... and lifted below this share, with no drop since the last look. */
const ROOMY = 0.9;

export type ConntrackChange = { readonly kind: 'conntrack-full' | 'conntrack-restored'; readonly text: string };

/**
 * Looks at the table's load, one look after another: says when it became full (new drops, or
 * 95% of its room taken) and when it has room again. Pure: the caller reads the files.
 */
export class ConntrackWatch {
  private full = false;
  private lastDrops: number | undefined;

  look(load: ConntrackLoad, sinceMs: number): ConntrackChange | undefined {
    const dropped = this.lastDrops === undefined ? 0 : Math.max(0, load.drops - this.lastDrops);
    this.lastDrops = load.drops;
    const share = load.max > 0 ? load.entries / load.max : 0;
    const of = `${load.entries.toLocaleString('en')} of ${load.max.toLocaleString('en')} entries`;
    if (!this.full && (dropped > 0 || share >= NEARLY_FULL)) {
      this.full = true;
      const why =
        dropped > 0
          ? `the kernel dropped ${dropped.toLocaleString('en')} packets of new connections in the last ${Math.round(sinceMs / 1000)} s for want of room`
          : 'the kernel is about to drop packets of new connections';
      return {
        kind: 'conntrack-full',
        text: `the connection tracking table is full (${of}): ${why}; phones' new registrations and calls are dropped before Asterisk sees them. See what fills it (conntrack -L | grep -o 'src=[^ ]*' | sort | uniq -c | sort -rn | head), and raise net.netfilter.nf_conntrack_max if the flows are legitimate`,
      };
    }
    if (this.full && dropped === 0 && share < ROOMY) {
      this.full = false;
      return { kind: 'conntrack-restored', text: `the connection tracking table has room again (${of}); no packet dropped since the last look` };
    }
    return undefined;
  }
}
