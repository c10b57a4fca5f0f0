import { parseCallEvent, type DialEvent } from './call-event.js';
import { recordReader } from '../events/fields.js';

// Asterisk's list of channels (AMI CoreShowChannels, which `write = system` allows): the calls
// as they are, whatever the AMI user may read. The toll-fraud guard reads it every
// `fraud.channel_poll` so that a call no DialBegin told of (the user's `read` lost `call`,
// an eventfilter, an event lost in a reconnect) is judged all the same, and a call whose
// Hangup never came is not counted up for ever.

/** The fields of a CoreShowChannel item the guard reads (what AmiClient.sendList copies). */
export const LISTING_FIELDS = ['Channel', 'Exten', 'Uniqueid', 'Application', 'BridgeId', 'Duration'] as const;

export interface ChannelListing {
  /**
   * Callers in the Dial application: each a dial, `answered` once bridged with the far end. Its
   * time is when its channel was made (a phone's call dials at once): a call placed while AMI was
   * away counts in the minute and hour it was placed.
   */
  readonly dials: ReadonlyArray<{ readonly dial: DialEvent; readonly answered: boolean }>;
  /** Every channel listed: a call the guard counts up and not among them has ended. */
  readonly uniqueids: ReadonlySet<string>;
  /** When the list was asked for: a call dialled later may not be in it. */
  readonly askedAt: number;
  readonly time: number;
  /** Items that were not channels the guard could read, with why (counted as bad input). */
  readonly skipped: readonly string[];
}

/** Reads a CoreShowChannels answer's items, each as a map of the LISTING_FIELDS. */
export function readChannelListing(items: ReadonlyArray<Readonly<Record<string, string>>>, askedAt: number, time: number): ChannelListing {
  const dials: Array<ChannelListing['dials'][number]> = [];
  const uniqueids = new Set<string>();
  const skipped: string[] = [];
  for (const item of items) {
    // A caller's own Exten and Uniqueid, as a DialBegin would give them: the same checks.
    const parsed = parseCallEvent('DialBegin', recordReader(item), time, false);
    if (!parsed.ok) {
      skipped.push(`CoreShowChannel: ${parsed.reason.replace(/^DialBegin: /, '')}`);
      continue;
    }
    uniqueids.add(item['Uniqueid']!);
    // Only a caller runs Dial; the channel it calls runs AppDial. Case as app_dial registers it.
    if (item['Application'] !== 'Dial' || !parsed.event || parsed.event.kind !== 'dial') continue;
    const age = durationMs(item['Duration']);
    dials.push({ dial: age === undefined ? parsed.event : { ...parsed.event, time: time - age }, answered: (item['BridgeId'] ?? '') !== '' });
  }
  return { dials, uniqueids, askedAt, time, skipped };
}

/** CoreShowChannel's `Duration: 01:02:03` (hours may pass 99); undefined when absent or not that. */
function durationMs(text: string | undefined): number | undefined {
  const m = text === undefined ? null : /^(\d{2,6}):([0-5]\d):([0-5]\d)$/.exec(text);
  return m ? ((Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3])) * 1000 : undefined;
}
