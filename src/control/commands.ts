import { readFileSync } from 'node:fs';
import { GuardError } from '../errors.js';
import { EXIT } from '../exit-codes.js';
import { request } from './client.js';
import { importedBan } from './protocol.js';

// The admin commands of the CLI: each one request (import: several) to the daemon's socket,
// printed for people, or as JSON with --json.

interface Options {
  readonly json: boolean;
  readonly for: string | undefined;
  readonly reason: string | undefined;
  readonly force: boolean;
  /** unban: on this node only (fleet mode; an unban is fleet-wide otherwise). */
  readonly local: boolean;
}

/**
 * A line for a terminal: control characters (an imported reason with escape sequences, an
 * account name) are shown escaped, never sent to the admin's terminal. JSON escapes its own.
 */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

const out = (text: string) => process.stdout.write(`${printable(text)}\n`);
const when = (t: number | null | string) => (t === null ? 'permanent' : typeof t === 'string' ? t : new Date(t).toISOString());

interface BanRow {
  prefix: string;
  since: number;
  until: number | null;
  reason: string;
  origin: string;
  step: number;
}

const IMPORT_CHUNK = 5000;

type Printer = (socket: string, args: readonly string[], o: Options) => Promise<number>;

/** Asks the daemon for a prefix change; "not banned" / "not allowed" is an answer (exit 4), not a failure. */
const prefixChange =
  (cmd: 'unban' | 'allow' | 'disallow', done: string): Printer =>
  async (socket, args, o) => {
    try {
      const r = (await request(socket, { cmd, prefix: args[0], ...(cmd === 'unban' && o.local ? { local: true } : {}) })) as { prefix: string; fleet?: string };
      out(o.json ? JSON.stringify(r) : `${done} ${r.prefix}${r.fleet ? ` (${r.fleet})` : ''}`);
      return EXIT.ok;
    } catch (e) {
      if (e instanceof GuardError && e.code === 'AG_ERR_CONTROL_REQUEST' && /is not/.test(e.message)) {
        process.stderr.write(`${printable(e.message)}\n`);
        return EXIT.notFound;
      }
      throw e;
    }
  };

/** Printed as the rows arrive: a million bans never sit in the CLI's memory either. */
const listBans =
  (cmd: 'list' | 'export'): Printer =>
  async (socket, _args, o) => {
    const json = o.json || cmd === 'export';
    const [open, close] = cmd === 'export' ? ['{"bans":[', ']}'] : ['[', ']'];
    let first = true;
    const print = (rows: readonly unknown[]) => {
      const bans = rows as readonly BanRow[];
      if (bans.length === 0) return;
      // JSON escapes its own control characters; a text line is made printable.
      if (json) process.stdout.write(`${first ? open : ','}\n${bans.map((b) => JSON.stringify(b)).join(',\n')}`);
      else process.stdout.write(`${bans.map((b) => printable(`${b.prefix.padEnd(24)} until ${when(b.until).padEnd(24)} ${b.reason} (${b.origin}, step ${b.step})`)).join('\n')}\n`);
      first = false;
    };
    await request(socket, { cmd }, 30_000, print);
    if (json) process.stdout.write(first ? `${open}${close}\n` : `\n${close}\n`);
    else if (first) out('no bans in force');
    return EXIT.ok;
  };

/** How each admin command of the command table asks the daemon and prints its answer. */
export const ADMIN_CLIENT: Readonly<Record<string, Printer>> = {
  async status(socket, _args, o) {
    const s = (await request(socket, { cmd: 'status' })) as Record<string, unknown> & {
      ami: { connected: boolean };
      last_decision: { action: string; target: string; time: string } | null;
      sieges?: Array<{ account: string; since: string; sources: number; banned: number; guesses: number }>;
    };
    if (o.json) out(JSON.stringify(s));
    else {
      out(`AMI:            ${s.ami.connected ? 'connected' : 'NOT connected'}`);
      out(`events/s:       ${String(s['events_per_second'])}`);
      out(`active bans:    ${String(s['active_bans'])}`);
      out(`tracked:        ${String(s['tracked_sources'])} sources`);
      for (const x of s.sieges ?? []) out(`under siege:    account ${x.account} since ${x.since}: ${x.sources} sources started it, ${x.banned} banned since, ${x.guesses} guesses`);
      out(`last decision:  ${s.last_decision ? `${s.last_decision.action} ${s.last_decision.target} at ${s.last_decision.time}` : 'none yet'}`);
    }
    return s.ami.connected ? EXIT.ok : EXIT.failure;
  },
  list: listBans('list'),
  export: listBans('export'),
  async ban(socket, args, o) {
    const r = (await request(socket, { cmd: 'ban', prefix: args[0], ...(o.for ? { for: o.for } : {}), ...(o.reason ? { reason: o.reason } : {}), ...(o.force ? { force: true } : {}) })) as { prefix: string; until: number | null; step: number; store_note?: string };
    out(o.json ? JSON.stringify(r) : `banned ${r.prefix} until ${when(r.until)} (step ${r.step})${r.store_note ? `; ${r.store_note}` : ''}`);
    return EXIT.ok;
  },
  unban: prefixChange('unban', 'unbanned'),
  async 'web-url'(socket, _args, o) {
    const r = (await request(socket, { cmd: 'web-url' })) as { url: string };
    out(o.json ? JSON.stringify(r) : r.url);
    return EXIT.ok;
  },
  allow: prefixChange('allow', 'allowed'),
  disallow: prefixChange('disallow', 'disallowed'),
  async why(socket, args, o) {
    const w = await request(socket, { cmd: 'why', address: args[0] });
    out(JSON.stringify(w, null, o.json ? undefined : 2));
    return EXIT.ok;
  },
  async fraud(socket, args, o) {
    const [action, endpoint] = args as [string, string | undefined];
    if (!['list', 'why', 'clear'].includes(action) || (action === 'list') !== (endpoint === undefined)) {
      throw new GuardError('AG_ERR_CLI_USAGE', 'usage: asterisk-guard fraud list | fraud why ENDPOINT | fraud clear ENDPOINT');
    }
    let r: unknown;
    try {
      r = await request(socket, { cmd: 'fraud', action, ...(endpoint !== undefined ? { endpoint } : {}) });
    } catch (e) {
      if (e instanceof GuardError && e.code === 'AG_ERR_CONTROL_REQUEST' && /is not (known|blocked)/.test(e.message)) {
        process.stderr.write(`${printable(e.message)}\n`);
        return EXIT.notFound;
      }
      throw e;
    }
    if (o.json || action === 'why') out(JSON.stringify(r, null, o.json ? undefined : 2));
    else if (action === 'clear') out(`cleared ${endpoint}: its outbound calls are allowed again (${(r as { asterisk: string }).asterisk})`);
    else {
      const { endpoints } = r as { endpoints: Array<{ endpoint: string; blocked: { since: string; why: string; calls_cut_since: number } | null; calls: number; learning: boolean; countries: Record<string, number>; calls_up: number }> };
      if (endpoints.length === 0) out('no endpoint has called out yet');
      for (const e of endpoints) {
        const state = e.blocked ? `BLOCKED since ${e.blocked.since} (${e.blocked.calls_cut_since} calls cut since): ${e.blocked.why}` : e.learning ? 'learning' : 'watched';
        out(`${e.endpoint.padEnd(16)} ${String(e.calls).padStart(6)} calls  ${Object.keys(e.countries).join(',') || '-'}  ${state}`);
      }
    }
    return EXIT.ok;
  },
  async import(socket, args, o) {
    const bans = readImportFile(args[0]!);
    let imported = 0;
    let skipped = 0;
    for (let i = 0; i < bans.length; i += IMPORT_CHUNK) {
      const chunk = bans.slice(i, i + IMPORT_CHUNK);
      const r = (await request(socket, { cmd: 'import', bans: chunk }, 120_000)) as { imported: number; skipped: number };
      imported += r.imported;
      skipped += r.skipped;
      if (bans.length > IMPORT_CHUNK) progress(Math.min(bans.length, i + IMPORT_CHUNK), bans.length);
    }
    if (bans.length > IMPORT_CHUNK) process.stderr.write('\n');
    out(o.json ? JSON.stringify({ imported, skipped }) : `imported ${imported} bans, skipped ${skipped} (expired, allow-listed or banned already)`);
    return EXIT.ok;
  },
};

/** Runs an admin command (its arguments already checked against the command table). */
export async function adminCommand(socket: string, command: string, args: readonly string[], o: Options): Promise<number> {
  const printer = ADMIN_CLIENT[command];
  if (!printer) throw new GuardError('AG_ERR_CLI_USAGE', `unknown command ${command}`);
  return printer(socket, args, o);
}

/**
 * An export file's bans, each checked here as the daemon will check it, so a bad one is named by
 * its place in the file before anything is sent (and a value nested a million deep never reaches
 * JSON.stringify).
 */
function readImportFile(file: string): Array<{ prefix: string; until: number | null; reason?: string }> {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new GuardError('AG_ERR_CLI_USAGE', `cannot import ${file}: ${(e as Error).message}`);
  }
  const list = typeof doc === 'object' && doc !== null ? (doc as { bans?: unknown }).bans : undefined;
  if (!Array.isArray(list)) throw new GuardError('AG_ERR_CLI_USAGE', `cannot import ${file}: no "bans" array (write one with asterisk-guard export)`);
  return list.map((b: unknown, i) => {
    const picked = typeof b === 'object' && b !== null && !Array.isArray(b) ? b : undefined;
    const { prefix, until, reason } = (picked ?? {}) as Record<string, unknown>;
    const ban = { prefix, until, ...(reason !== undefined ? { reason } : {}) };
    const checked = picked === undefined ? undefined : importedBan.safeParse(ban);
    if (checked?.success) return ban as { prefix: string; until: number | null; reason?: string };
    const issue = checked?.error.issues[0];
    const what = issue ? `.${issue.path.join('.')}: ${issue.message}` : ` is ${Array.isArray(b) ? 'a list' : JSON.stringify(b)}, not a ban {"prefix", "until", "reason"}`;
    throw new GuardError('AG_ERR_CLI_USAGE', `cannot import ${file}: bans[${i}]${what}; nothing was imported`);
  });
}

function progress(done: number, total: number): void {
  const width = 30;
  const filled = Math.round((done / total) * width);
  process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`);
}
