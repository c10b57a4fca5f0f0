import { z } from 'zod';
import { prefixField } from '../config/fields.js';
import { parseDuration } from '../time/duration.js';
import { isEndpointName } from '../calls/call-event.js';

// The admin socket's requests: one JSON object per line, validated here before anything acts.

// Bounded before parsing: a request line is attacker-sized input for the parser.
const prefix = z.string().max(64).pipe(prefixField);

const banFor = z.union([z.literal('permanent'), z.string().max(32), z.number().positive()]).transform((v, ctx): number | null => {
  if (v === 'permanent') return null;
  const ms = parseDuration(v);
  if (ms === undefined || ms < 1000) {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is not a ban length from 1s to 3650d (30m, 1h, 1d, permanent)` });
    return z.NEVER;
  }
  return ms;
});

export const importedBan = z
  .object({
    prefix,
    until: z.union([z.number().int().positive(), z.null()]),
    reason: z.string().max(200).default('import'),
  })
  .strict();

export const requestSchema = z.discriminatedUnion('cmd', [
  z.object({ cmd: z.literal('status') }).strict(),
  z.object({ cmd: z.literal('list') }).strict(),
  z.object({ cmd: z.literal('ban'), prefix, for: banFor.optional(), reason: z.string().max(200).optional(), force: z.boolean().optional() }).strict(),
  z.object({ cmd: z.literal('unban'), prefix, local: z.boolean().optional() }).strict(),
  z.object({ cmd: z.literal('why'), address: prefix }).strict(),
  z.object({ cmd: z.literal('allow'), prefix }).strict(),
  z.object({ cmd: z.literal('disallow'), prefix }).strict(),
  z.object({ cmd: z.literal('export') }).strict(),
  z.object({ cmd: z.literal('web-url') }).strict(),
  z.object({ cmd: z.literal('import'), bans: z.array(importedBan).max(10_000) }).strict(),
  z
    .object({
      cmd: z.literal('fraud'),
      action: z.enum(['list', 'why', 'clear']),
      endpoint: z.string().max(80).refine(isEndpointName, 'not an endpoint name (1003 for PJSIP, SIP/1003 for other technologies)').optional(),
    })
    .strict()
    .refine((r) => (r.action === 'list') === (r.endpoint === undefined), { message: 'list takes no endpoint; why and clear take one', path: ['endpoint'] }),
]);

export type Request = z.output<typeof requestSchema>;

export type Response = { ok: true; data: unknown } | { ok: true; rows: readonly unknown[] } | { ok: false; error: { code: string; message: string } };

/**
 * A long answer (list, export of a million bans): sent as lines of rows, a chunk at a time
 * with the event loop free between chunks, then `{"data": {"count": N}}`. The rows are made
 * as they are sent: nothing the size of the answer is held.
 */
export class RowStream {
  constructor(readonly rows: Iterable<unknown>) {}
}

/** Requests larger than this are refused before parsing (an import goes in chunks). */
export const MAX_REQUEST_BYTES = 4 * 1024 * 1024;

export function parseRequest(line: string): { ok: true; request: Request } | { ok: false; message: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch (e) {
    return { ok: false, message: `not JSON: ${(e as Error).message}` };
  }
  const r = requestSchema.safeParse(raw);
  if (r.success) return { ok: true, request: r.data };
  const issue = r.error.issues[0]!;
  return { ok: false, message: `${issue.path.join('.') || 'request'}: ${issue.message}` };
}
