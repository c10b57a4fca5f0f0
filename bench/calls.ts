// Benchmark 10: the toll-fraud guard. Call events (DialBegin, DialEnd, three Hangups a call:
// what the shipped eventfilters let through) in Asterisk 22's frame format, through the
// daemon's decoder and pipeline on one core. (What it adds to the security-event path is
// measured in processes of their own: fraud-overhead-main.ts.)
import { performance } from 'node:perf_hooks';
import { copyFields } from '../src/ami/client.js';
import { AmiFrameDecoder } from '../src/ami/frame-decoder.js';
import { LISTING_FIELDS, readChannelListing } from '../src/calls/channel-listing.js';
import { parseConfig } from '../src/config/load.js';
import { buildCore } from '../src/core.js';
import { createLogger } from '../src/log.js';

export const FRAUD = `fraud: { country: GB, learning: { period: 0s, calls: 20 } }`;

/** A channel's fields as Asterisk 22 writes them in call events (captured in the lab). */
function channelFields(prefix: string, channel: string, exten: string, uniqueid: string, linkedid: string, context: string): string {
  return [
    `${prefix}Channel: ${channel}`,
    `${prefix}ChannelState: 4`,
    `${prefix}ChannelStateDesc: Ring`,
    `${prefix}CallerIDNum: <unknown>`,
    `${prefix}CallerIDName: <unknown>`,
    `${prefix}ConnectedLineNum: <unknown>`,
    `${prefix}ConnectedLineName: <unknown>`,
    `${prefix}Language: en`,
    `${prefix}AccountCode: `,
    `${prefix}Context: ${context}`,
    `${prefix}Exten: ${exten}`,
    `${prefix}Priority: 2`,
    `${prefix}Uniqueid: ${uniqueid}`,
    `${prefix}Linkedid: ${linkedid}`,
  ].join('\r\n');
}

/**
 * `calls` calls by 1,000 endpoints to 50,000 distinct numbers (London fixed lines, mobiles, a
 * few countries abroad; more numbers than the reader's cache holds), each 5 events.
 */
export function callCapture(calls: number): { capture: Buffer; events: number } {
  const parts: Buffer[] = [];
  const stamp = (i: number) => `Timestamp: ${1795658536 + Math.floor(i / 100)}.${String((i % 100) * 10_000).padStart(6, '0')}`;
  for (let i = 0; i < calls; i++) {
    const endpoint = 1000 + (i % 1000);
    const k = (i * 7919) % 50_000;
    const number = k % 10 === 0 ? `0033${String(140000000 + k)}` : k % 3 === 0 ? `07700${String(900000 + (k % 1000)).padStart(6, '0')}` : `020794${String(k % 100_000).padStart(5, '0')}`;
    const id = `1795658536.${i * 3}`;
    const caller = `PJSIP/${endpoint}-${(i & 0xffffffff).toString(16).padStart(8, '0')}`;
    const local = `Local/${number}@carrier-${(i & 0xffffffff).toString(16).padStart(8, '0')}`;
    const dest = channelFields('Dest', `${local};1`, number, `1795658536.${i * 3 + 1}`, id, 'carrier');
    const me = channelFields('', caller, number, id, id, 'lab');
    parts.push(Buffer.from(`Event: DialBegin\r\nPrivilege: call,all\r\n${stamp(i)}\r\n${me}\r\n${dest}\r\nDialString: ${number}@carrier\r\n\r\n`));
    parts.push(Buffer.from(`Event: DialEnd\r\nPrivilege: call,all\r\n${stamp(i)}\r\n${me}\r\n${dest}\r\nDialStatus: ANSWER\r\n\r\n`));
    for (const [ch, uid] of [[`${local};1`, `1795658536.${i * 3 + 1}`], [`${local};2`, `1795658536.${i * 3 + 2}`], [caller, id]] as const) {
      parts.push(Buffer.from(`Event: Hangup\r\nPrivilege: call,all\r\n${stamp(i)}\r\n${channelFields('', ch, number, uid, id, 'lab')}\r\nCause: 16\r\nCause-txt: Normal Clearing\r\n\r\n`));
    }
  }
  return { capture: Buffer.concat(parts), events: calls * 5 };
}

/** One pass through a fresh pipeline, 64 KiB chunks; events per second and decisions made. */
function pass(config: string, capture: Buffer, events: number, stepMs: number): { perSecond: number; decisions: number } {
  const { pipeline } = buildCore(parseConfig(config, 'bench'), createLogger('silent', 'stderr'), { useEventTime: false });
  // 60 ms an event: each endpoint places a call every 5 minutes or so, over 16 hours.
  let t = 1_795_658_536_000;
  let decisions = 0;
  const decoder = new AmiFrameDecoder({
    frame: (f) => {
      decisions += pipeline.ingest(f, (t += stepMs))?.length ?? 0;
    },
    banner: () => {},
    malformed: () => {},
  });
  const start = performance.now();
  for (let i = 0; i < capture.length; i += 65536) decoder.push(capture.subarray(i, i + 65536));
  return { perSecond: events / ((performance.now() - start) / 1000), decisions };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[1]!;

export interface CallBenchResults {
  readonly callEventsPerSecond: number;
  readonly runs: number[];
  readonly decisions: number;
  /** One channel list of LISTED_CALLS calls up (fraud.channel_poll), from its bytes to the guard's books: microseconds. */
  readonly listMicros: number;
}

const LISTED_CALLS = 250;

/**
 * The channel list the guard reads every `fraud.channel_poll`, on a PBX with 250 calls up (a
 * caller in Dial and its carrier leg each, 500 channels, all known from their DialBegins): its
 * bytes as Asterisk 22 writes them, framed, the guard's fields copied, read and reconciled.
 * Microseconds a list, median of 3 runs of 200 lists.
 */
function listCost(): number {
  const { fraud } = buildCore(parseConfig(FRAUD, 'bench'), createLogger('silent', 'stderr'), { useEventTime: false });
  const t0 = 1_795_658_536_000;
  const items: string[] = [];
  for (let i = 0; i < LISTED_CALLS; i++) {
    const id = `1795658536.${i * 2}`;
    const number = `020794${String(10_000 + i)}`;
    const caller = `PJSIP/${1000 + i}-${i.toString(16).padStart(8, '0')}`;
    fraud!.handleCall({ kind: 'dial', channel: caller, endpoint: String(1000 + i), uniqueid: id, number, time: t0 + i });
    const trunk = channelFields('', `PJSIP/carrier-${(i + LISTED_CALLS).toString(16).padStart(8, '0')}`, 's', `1795658536.${i * 2 + 1}`, id, 'carrier');
    for (const [fields, app, data] of [[channelFields('', caller, number, id, id, 'lab'), 'Dial', `PJSIP/${number}@carrier,30`], [trunk, 'AppDial', '(Outgoing Line)']] as const) {
      items.push(`Event: CoreShowChannel\r\nActionID: coreshowchannels-7\r\n${fields}\r\nApplication: ${app}\r\nApplicationData: ${data}\r\nDuration: 00:01:00\r\nBridgeId: 4f1e2d3c-${i}\r\n\r\n`);
    }
  }
  const answer = Buffer.from(items.join(''));
  const once = (t: number) => {
    const listed: Array<Record<string, string>> = [];
    const decoder = new AmiFrameDecoder({ frame: (f) => void listed.push(copyFields(f, LISTING_FIELDS)), banner: () => {}, malformed: () => {} });
    decoder.push(answer);
    const listing = readChannelListing(listed, t, t + 1);
    // A list that read no call, or judged one, would measure something else.
    if (listing.dials.length !== LISTED_CALLS || fraud!.reconcile(listing).length > 0) throw new Error(`the channel list read ${listing.dials.length} of ${LISTED_CALLS} calls, or judged one`);
  };
  const run = () => {
    const start = performance.now();
    for (let k = 0; k < 200; k++) once(t0 + 60_000 + k * 1000);
    return ((performance.now() - start) * 1000) / 200;
  };
  run();
  return median([run(), run(), run()]);
}

export function runCallBench(calls = 60_000): CallBenchResults {
  const { capture, events } = callCapture(calls);
  // 60 ms an event: each endpoint places a call every 5 minutes or so, over 16 hours.
  pass(FRAUD, capture, events, 60);
  const runs = [0, 1, 2].map(() => pass(FRAUD, capture, events, 60));
  return { callEventsPerSecond: median(runs.map((r) => r.perSecond)), runs: runs.map((r) => r.perSecond), decisions: runs[0]!.decisions, listMicros: listCost() };
}
