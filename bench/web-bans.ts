// Benchmark 13 (issue 27): the web page's bans table at 1,000,000 bans in force: one page of
// 50 as GET /api/bans makes it (search, sort, page, rows), for the pages admins open, against
// the obvious way in the same run (every ban as an object, filtered and fully sorted).
import { parseConfig } from '../src/config/load.js';
import { buildCore } from '../src/core.js';
import type { ActiveBan } from '../src/ledger/ban-ledger.js';
import { createLogger } from '../src/log.js';
import { prefixFromBytes } from '../src/net/ip-prefix.js';
import { queryBans, type BanQuery } from '../src/web/bans-query.js';

export interface WebBansResults {
  readonly bans: number;
  /** Median ms per page, by query. */
  readonly pages: ReadonlyArray<{ readonly name: string; readonly total: number; readonly ms: number }>;
  /** The obvious way, first page: median ms. */
  readonly referenceMs: number;
}

const BANS = 1_000_000;
const RUNS = 5;

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

export function runWebBansBench(): WebBansResults {
  const core = buildCore(parseConfig(`policy: { max_bans: ${BANS * 2} }`, 'bench'), createLogger('silent', 'stderr'), { useEventTime: true });
  const now = Date.now();
  const notes = ['brute-force', 'range', 'seen scanning', 'import'];
  for (let i = 0; i < BANS; i++) {
    const target = prefixFromBytes(4, Uint8Array.of(10, (i >> 16) & 255, (i >> 8) & 255, i & 255), 32);
    core.ledger.request({ target, time: now - i * 10, reason: 'import', origin: 'import', durationMs: 86_400_000 + ((i * 7919) % 3_600_000), note: notes[i % notes.length] });
  }
  const page = (q: Partial<BanQuery>) => ({ q: '', sort: 'since', descending: true, offset: 0, limit: 50, ...q }) as BanQuery;
  const cases: Array<[string, BanQuery]> = [
    ['the first page (newest first)', page({})],
    ['the last page, by address', page({ sort: 'prefix', descending: false, offset: BANS - 50 })],
    ['a search by CIDR (a /16: 65,536 bans), by end', page({ q: '10.7.0.0/16', sort: 'until' })],
    ['a search by reason (250,000 bans), second page', page({ q: 'scanning', sort: 'reason', offset: 50 })],
    ['a page in the middle (offset 500,000), by end', page({ sort: 'until', offset: BANS / 2 })],
  ];
  const pages = cases.map(([name, q]) => {
    const times: number[] = [];
    let total = 0;
    for (let r = 0; r < RUNS; r++) {
      const t = performance.now();
      const result = queryBans(core.ledger.columns(now), q);
      JSON.stringify(result.rows.map((b) => ({ prefix: b.prefix.text, since: b.since, until: b.until, reason: b.reason, origin: b.origin, step: b.step })));
      times.push(performance.now() - t);
      total = result.total;
    }
    return { name, total, ms: median(times) };
  });
  const reference: number[] = [];
  for (let r = 0; r < 3; r++) {
    const t = performance.now();
    const all: ActiveBan[] = [...core.ledger.bans(now)];
    all.sort((a, b) => b.since - a.since);
    JSON.stringify(all.slice(0, 50).map((b) => ({ prefix: b.prefix.text, since: b.since })));
    reference.push(performance.now() - t);
  }
  return { bans: core.ledger.count(now), pages, referenceMs: median(reference) };
}
