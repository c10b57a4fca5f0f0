import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { DecisionLog } from '../feeds/decision-log.js';
import { contains, parseIpAddress, parseIpPrefix, type IpPrefix } from '../net/ip-prefix.js';
import { closeHttp, listenHttp } from './http-listen.js';
import { changedKeys, type DaemonContext, type Part } from './part.js';

/** Changes a bouncer can be behind by and still get only the changes (then everything again). */
const MAX_CHANGES = 100_000;

/**
 * The guard's bans as a CrowdSec Local API serves decisions to its bouncers (issue 26, bans
 * out): `GET /v1/decisions/stream` (`startup=true`, then the changes since that bouncer's last
 * pull) and `GET /v1/decisions?ip=`, each bouncer with its own `X-Api-Key` from the config. Any
 * CrowdSec bouncer (the firewall one, nginx, HAProxy, a router) then enforces them.
 */
export function bouncerApiPart(ctx: DaemonContext): Part {
  const { log, clock, bus, core } = ctx;
  const config = ctx.config().bouncer_api!;
  const changes = new DecisionLog(MAX_CHANGES);
  const pulls = new Map<string, { count: number; last: number }>();
  bus.on('committed', (d, until) => changes.banned({ prefix: d.target, until, reason: d.reason }));
  bus.on('lifted', (prefix) => changes.lifted(prefix));
  const inForce = () => [...core.ledger.bans(clock.now())].map((b) => ({ prefix: b.prefix, until: b.until, reason: String(b.reason) }));
  const keyOf = (given: string | undefined) => {
    if (given === undefined) return undefined;
    const g = Buffer.from(given);
    return ctx.config().bouncer_api?.keys.find((k) => {
      const want = Buffer.from(k.key);
      return want.length === g.length && timingSafeEqual(want, g);
    })?.name;
  };

  const server = http.createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const url = new URL(req.url ?? '/', 'http://guard');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, { message: 'only GET' });
    const header = req.headers['x-api-key'];
    const bouncer = keyOf(Array.isArray(header) ? header[0] : header);
    if (bouncer === undefined) return send(403, { message: 'access forbidden' });
    const now = clock.now();
    if (url.pathname === '/v1/decisions/stream') {
      const startup = url.searchParams.get('startup') === 'true';
      pulls.set(bouncer, { count: (pulls.get(bouncer)?.count ?? 0) + 1, last: now });
      return send(200, changes.stream(bouncer, startup, inForce, now));
    }
    if (url.pathname === '/v1/decisions') {
      const ip = url.searchParams.get('ip');
      const range = url.searchParams.get('range');
      const asked = ip !== null ? parseIpAddress(ip) : range !== null ? parseIpPrefix(range) : undefined;
      if (asked !== undefined && !asked.ok) return send(400, { message: asked.reason });
      const match = (p: IpPrefix) => asked === undefined || (asked.ok && (contains(p, asked.value) || (range !== null && contains(asked.value, p))));
      const found = changes.covering(inForce().filter((b) => match(b.prefix)), now);
      return send(200, found.length > 0 ? found : null);
    }
    send(404, { message: `no ${url.pathname} here: /v1/decisions/stream and /v1/decisions` });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;

  return {
    name: 'bouncer_api',
    async start() {
      await listenHttp(server, config.listen, 'bouncer_api.listen');
      log.info({ listen: config.listen, bouncers: config.keys.map((k) => k.name) }, 'serving bans to CrowdSec bouncers');
    },
    stop: () => closeHttp(server),
    restartOnly: (running, next) => changedKeys(running, next, ['bouncer_api.listen']),
    status: () => ({ bouncer_api: { listen: config.listen, bouncers: Object.fromEntries([...pulls].map(([name, p]) => [name, { pulls: p.count, last_pull: new Date(p.last).toISOString() }])) } }),
  };
}
