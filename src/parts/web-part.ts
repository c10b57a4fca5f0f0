import http from 'node:http';
import type { Guard } from '../control/guard.js';
import { isFailureKind } from '../events/security-event.js';
import { fraudRecord, isWorthTelling } from '../fraud/fraud-decision.js';
import { Activity } from '../web/activity.js';
import { LiveFeed } from '../web/live-feed.js';
import { WebAccess, defaultHosts } from '../web/web-access.js';
import { loadAssets } from '../web/web-assets.js';
import { webHandler } from '../web/web-server.js';
import { closeHttp, listenHttp } from './http-listen.js';
import { changedKeys, type DaemonContext, type Part } from './part.js';

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

/**
 * The web page (issue 27): served by the daemon, off by default. Changes go through the same
 * Guard facade as the CLI, audited as made on the web. `loginUrl` mints the one-time URL
 * `asterisk-guard web-url` prints.
 */
export function webPart(ctx: DaemonContext, guard: () => Guard): Part & { readonly loginUrl: () => string } {
  const { log, clock, bus, core } = ctx;
  const config = ctx.config().web;
  const base = (config.url ?? `http://${config.listen}`).replace(/\/$/, '');
  const hosts = config.hosts ?? defaultHosts(new URL(base).host);
  const access = new WebAccess(new Set(hosts.map((h) => h.toLowerCase())));
  const activity = new Activity();
  const feed = new LiveFeed();

  core.pipeline.watch((e) => {
    if (isFailureKind(e.kind)) activity.failure(e.remote.ip.text, e.account, clock.now());
  });
  bus.on('committed', (d, until) => {
    activity.ban(clock.now());
    feed.send('ban', { prefix: d.target.text, time: iso(d.time), until: iso(until), reason: d.reason, origin: d.origin, via: d.via ?? null, step: d.step, note: d.note ?? null, events: d.evidence?.events ?? null, accounts: d.evidence?.accounts ?? [] });
  });
  bus.on('lifted', (prefix, time, origin, via) => feed.send('unban', { prefix: prefix.text, time: iso(time), origin, via: via ?? null }));
  bus.on('alert', (d) => feed.send('alert', { severity: d.severity, reason: d.reason, time: iso(d.time), target: d.target?.text ?? null, text: d.text }));
  bus.on('fraud', (d) => {
    if (isWorthTelling(d)) feed.send('fraud', { ...fraudRecord(d), time: iso(d.time) });
  });
  bus.on('trouble', (t) => feed.send('trouble', { kind: t.kind, time: iso(t.time), text: t.text }));

  let server: http.Server | undefined;

  return {
    name: 'web',
    loginUrl: () => `${base}/login?token=${access.mintToken(clock.now())}`,
    async start() {
      const handler = webHandler({ access, guard: () => guard().for('web'), columns: (now) => core.ledger.columns(now), activity, feed, assets: loadAssets(), now: () => clock.now(), log });
      server = http.createServer(handler);
      server.headersTimeout = 10_000;
      // Event streams stay open: no request timeout (the headers' one still applies).
      server.requestTimeout = 0;
      await listenHttp(server, config.listen, 'web.listen');
      log.info({ listen: config.listen, hosts }, 'web page: run `asterisk-guard web-url` for a login URL');
    },
    async stop() {
      feed.close();
      if (server) await closeHttp(server);
    },
    restartOnly: (running, next) => changedKeys(running, next, ['web']),
    status: () => ({ web: { listen: config.listen, hosts, sessions: access.sessionCount, live_readers: feed.size } }),
  };
}
