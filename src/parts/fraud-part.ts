import path from 'node:path';
import type { AmiClient } from '../ami/client.js';
import { callRightsProblems } from '../ami/manager-conf.js';
import { readIdentifiedAddresses } from '../ami/pjsip-identify.js';
import type { resolveAmiOptions } from '../ami/settings.js';
import { LISTING_FIELDS, readChannelListing } from '../calls/channel-listing.js';
import type { Config } from '../config/schema.js';
import { fraudConfig } from '../core.js';
import { BLOCK_FAMILY, cutFraudulentCalls } from '../effects/cut-fraudulent-calls.js';
import { MAX_ENDPOINTS } from '../fraud/fraud-config.js';
import type { FraudGuard } from '../fraud/fraud-guard.js';
import type { Persister } from '../store/persister.js';
import type { Store } from '../store/store.js';
import type { DaemonContext, MetricFamily, Part } from './part.js';

/** Calls whose Hangup never came are dropped, and what the calls taught goes to the store, this often. */
const TEND_MS = 5000;
/** A channel list not answered within this is given up (the next poll asks again). */
const LISTING_TIMEOUT_MS = 5000;

export interface FraudPart extends Part {
  /** Deletes the endpoint's AstDB key (what the dialplan snippet checks); says what happened. */
  unblockInAsterisk(endpoint: string): Promise<string>;
}

/**
 * The toll-fraud guard (docs/fraud.md): the core judges calls; this part cuts a fraudulent one
 * through AMI (the first of the bus's `fraud` subscribers: built before the others), keeps the
 * AstDB blocks in step with the store, and stores what the endpoints' calls taught.
 */
export function fraudPart(ctx: DaemonContext, fraud: FraudGuard, ami: AmiClient, amiOptions: ReturnType<typeof resolveAmiOptions>, store: { readonly store: Store; readonly persister: Persister }): FraudPart {
  const { log, clock, bus } = ctx;
  const config = ctx.config();
  const cutter = cutFraudulentCalls(bus, ami, log, clock);
  // The guard would watch nothing, or cut nothing, and say so only when fraud happens.
  const missing = amiOptions.source === 'config' ? [] : callRightsProblems(config.ami.manager_conf, amiOptions.username);
  for (const text of missing) log.error({ manager_conf: config.ami.manager_conf }, `toll-fraud guard: ${text}; turn on the ;toll-fraud lines of asterisk-conf/manager.d/asterisk-guard.conf (docs/fraud.md), then \`manager reload\``);
  const listing = channelListing(ctx, fraud, ami);
  ami.on('connected', () => {
    // Hangups sent while the connection was down are lost: without the channel list the calls
    // it counted up are not known (with it, the next list says which are still up).
    // And the blocks go into the AstDB again (one decided while it was down never got there).
    if (!listing.on()) fraud.forgetCalls();
    void cutter.reassert(fraud.blockList());
  });
  // Trunks Asterisk identifies by address: their calls are inbound, never judged.
  const leaveTrunksAlone = (c: Config) => {
    try {
      const { endpoints } = readIdentifiedAddresses(path.dirname(c.ami.manager_conf));
      fraud.setTrunks(endpoints);
      if (endpoints.length > 0) log.info({ endpoints }, 'toll-fraud guard: calls of the endpoints pjsip.conf identifies by address (trunks) are not judged');
    } catch (e) {
      log.warn({ err: e }, 'pjsip.conf could not be read: no trunk is left out of the toll-fraud guard');
    }
  };
  const tend = () => {
    const now = clock.now();
    fraud.tick(now);
    const changed = fraud.takeChanged();
    if (changed.size > 0) store.persister.write(`fraud baselines (${changed.size})`, () => store.store.saveBaselines(changed, now));
  };
  let timer: NodeJS.Timeout | undefined;
  return {
    name: 'fraud',
    async start() {
      const { baselines, damaged } = store.store.baselines(MAX_ENDPOINTS);
      if (damaged.length > 0) log.warn({ endpoints: damaged }, 'toll-fraud baselines damaged in the store: those endpoints learn again');
      fraud.restore(baselines, store.store.fraudBlocks());
      leaveTrunksAlone(config);
      timer = setInterval(tend, TEND_MS);
      timer.unref();
      listing.every(config.fraud!.channel_poll);
    },
    async stop() {
      clearInterval(timer);
      listing.every(0);
      tend();
    },
    reload(c) {
      const fc = fraudConfig(c);
      if (fc) fraud.reconfigure(fc);
      if (c.fraud) listing.every(c.fraud.channel_poll);
      leaveTrunksAlone(c);
    },
    unblockInAsterisk: (endpoint) => unblockInAsterisk(ami, endpoint),
    status: () => ({ fraud: { endpoints: fraud.endpointCount, blocked: fraud.blockedCount, verdicts: { ...fraud.verdicts } } }),
    metrics: () => fraudMetrics(() => ({ verdicts: fraud.verdicts, blocked: fraud.blockedCount })),
  };
}

/**
 * Reads Asterisk's channel list every `fraud.channel_poll` and gives it to the guard: calls no
 * DialBegin told of are judged (their verdicts on the bus, as the events' are), calls whose
 * Hangup never came end. One list in flight at a time.
 */
function channelListing(ctx: DaemonContext, fraud: FraudGuard, ami: AmiClient): { every(ms: number): void; on(): boolean } {
  const { log, clock, bus, core } = ctx;
  let timer: NodeJS.Timeout | undefined;
  let inFlight = false;
  let refusedSaid = false;
  const read = async () => {
    if (inFlight || !ami.connected) return;
    inFlight = true;
    const askedAt = clock.now();
    try {
      const { response, items } = await ami.sendList('CoreShowChannels', {}, LISTING_FIELDS, LISTING_TIMEOUT_MS);
      if (response['Response'] !== 'Success') {
        if (!refusedSaid) log.error({ message: response['Message'] }, 'Asterisk refused the channel list (AMI CoreShowChannels): the toll-fraud guard sees calls only through DialBegin events. Give the AMI user `write = system` (docs/fraud.md), then `manager reload`');
        refusedSaid = true;
        return;
      }
      refusedSaid = false;
      const calls = readChannelListing(items, askedAt, clock.now());
      for (const why of calls.skipped) core.pipeline.problems.report('bad-channel-listing', why);
      for (const d of fraud.reconcile(calls)) bus.emit('fraud', d);
    } catch (e) {
      // Not connected, or no answer in time: the next poll asks again.
      log.debug({ err: e }, 'channel list not read');
    } finally {
      inFlight = false;
    }
  };
  return {
    every(ms) {
      clearInterval(timer);
      timer = undefined;
      if (ms === 0) return;
      timer = setInterval(() => void read(), ms);
      timer.unref();
    },
    on: () => timer !== undefined,
  };
}

export function fraudMetrics(read: () => { verdicts: Readonly<Record<string, number>>; blocked: number }): MetricFamily[] {
  return [
    { name: 'asterisk_guard_fraud_verdicts_total', help: 'Calls the toll-fraud guard judged, by verdict: alert, hangup, block', type: 'counter', labels: ['verdict'], read: () => Object.entries(read().verdicts).map(([verdict, n]) => [{ verdict }, n] as const) },
    { name: 'asterisk_guard_fraud_blocked_endpoints', help: 'Endpoints whose outbound calls are blocked until an admin clears them', type: 'gauge', read: () => read().blocked },
  ];
}

async function unblockInAsterisk(ami: AmiClient, endpoint: string): Promise<string> {
  const key = `${BLOCK_FAMILY}/${endpoint}`;
  try {
    const r = await ami.send('DBDel', { Family: BLOCK_FAMILY, Key: endpoint }, 2000);
    if (r.Response === 'Success') return `AstDB key ${key} deleted`;
    return `Asterisk did not delete AstDB key ${key} (${r.Message ?? 'no reason given'}); if it is there, run: asterisk -rx "database del ${BLOCK_FAMILY} ${endpoint}"`;
  } catch (e) {
    return `AstDB key ${key} not deleted (${(e as Error).message}); it goes at the next AMI login, or now with: asterisk -rx "database del ${BLOCK_FAMILY} ${endpoint}"`;
  }
}
