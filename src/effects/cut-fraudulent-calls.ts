import type { Logger } from 'pino';
import type { AmiList, AmiResponse } from '../ami/client.js';
import type { FraudBlock, FraudHit } from '../fraud/fraud-decision.js';
import type { Clock } from '../time/clock.js';
import type { DecisionBus, Trouble } from './bus.js';

/** The AstDB family the dialplan snippet (asterisk-conf/extensions.d/asterisk-guard.conf) reads. */
export const BLOCK_FAMILY = 'asterisk-guard/blocked';
const ANSWER_WITHIN_MS = 2000;

/** The AMI actions the cutter needs: AmiClient's, or a test's recorder. */
export interface AmiActions {
  send(name: string, fields: Record<string, string>, timeoutMs: number): Promise<AmiResponse>;
  sendList(name: string, fields: Record<string, string>, want: readonly string[], timeoutMs: number): Promise<AmiList>;
}

/** What the AstDB key of a block holds: when, and the rules that caused it. */
function blockValue(since: number, hits: readonly FraudHit[]): string {
  return `${new Date(since).toISOString()} ${hits.map((h) => h.rule).join(',')}`;
}

export interface FraudCutter {
  /**
   * Makes the AstDB's blocks the store's, at each AMI login: a DBPut sent while AMI was away is
   * lost, and so is the DBDel of a block cleared meanwhile (`fraud clear`); the store, not
   * Asterisk, is the truth. The blocks go in first, then the keys the store no longer holds go.
   */
  reassert(blocks: readonly FraudBlock[]): Promise<void>;
}

/**
 * Cuts what the toll-fraud guard judged: AMI Hangup of the call (before anything else is done
 * about it), and for a block the AstDB key that stops the endpoint's next calls in the dialplan.
 */
export function cutFraudulentCalls(bus: DecisionBus, ami: AmiActions, log: Logger, clock: Clock): FraudCutter {
  const troubleOnce = new Set<string>();
  const trouble = (key: string, text: string) => {
    log.error(text);
    if (troubleOnce.has(key)) return;
    troubleOnce.add(key);
    const t: Trouble = { kind: 'fraud-action-failed', time: clock.now(), text };
    bus.emit('trouble', t);
  };
  const act = async (d: { endpoint: string; channel?: string }, action: string, fields: Record<string, string>, done: string): Promise<void> => {
    const started = clock.monotonic();
    let r: AmiResponse;
    try {
      r = await ami.send(action, fields, ANSWER_WITHIN_MS);
    } catch (e) {
      trouble(`${action}-${(e as Error).message}`, `toll fraud on endpoint ${d.endpoint}: AMI ${action} failed: ${(e as Error).message}`);
      return;
    }
    const ms = Math.round((clock.monotonic() - started) * 10) / 10;
    if (r.Response === 'Success') {
      log.info({ endpoint: d.endpoint, channel: d.channel, action, ms }, `${done} (${ms} ms)`);
      return;
    }
    const message = r.Message ?? 'no reason given';
    // The caller hung up first: nothing left to cut.
    if (action === 'Hangup' && /no such channel/i.test(message)) return;
    const hint = /permission denied/i.test(message)
      ? `: the guard's AMI user lacks the write class for it. Set \`write = system\` in its manager.conf section (asterisk-conf/manager.d/asterisk-guard.conf), then \`manager reload\``
      : '';
    trouble(`${action}-${message}`, `toll fraud on endpoint ${d.endpoint}: Asterisk refused AMI ${action}: ${message}${hint}`);
  };
  const blocked = (endpoint: string) => `blocked the outbound calls of endpoint ${endpoint} (AstDB ${BLOCK_FAMILY}/${endpoint})`;
  bus.on('fraud', (d) => {
    if (d.verdict === 'alert') return;
    void act(d, 'Hangup', { Channel: d.channel, Cause: '21' }, `hung up ${d.channel} (toll fraud on endpoint ${d.endpoint})`);
    // Once a block (and again at each AMI login: reassert), not once a call of a blocked endpoint.
    if (d.verdict === 'block' && d.whileBlocked === 0) void act(d, 'DBPut', { Family: BLOCK_FAMILY, Key: d.endpoint, Val: blockValue(d.time, d.hits) }, blocked(d.endpoint));
  });
  return {
    async reassert(blocks) {
      for (const b of blocks) void act(b, 'DBPut', { Family: BLOCK_FAMILY, Key: b.endpoint, Val: blockValue(b.since, b.decision.hits) }, blocked(b.endpoint));
      const held = new Set(blocks.map((b) => b.endpoint));
      let tree: AmiList;
      try {
        tree = await ami.sendList('DBGetTree', { Family: BLOCK_FAMILY }, ['Key'], ANSWER_WITHIN_MS);
      } catch (e) {
        log.warn({ err: e }, `the AstDB's blocks (${BLOCK_FAMILY}) could not be read: a block cleared while AMI was away may still stop its endpoint's calls`);
        return;
      }
      if (tree.response['Response'] !== 'Success') {
        log.warn({ message: tree.response['Message'] }, `Asterisk refused AMI DBGetTree (${tree.response['Message'] ?? 'no reason given'}): a block cleared while AMI was away may still stop its endpoint's calls; see \`asterisk -rx "database show ${BLOCK_FAMILY}"\``);
        return;
      }
      const prefix = `/${BLOCK_FAMILY}/`;
      for (const { Key: key } of tree.items) {
        const endpoint = key?.startsWith(prefix) ? key.slice(prefix.length) : undefined;
        if (endpoint && !held.has(endpoint)) void act({ endpoint }, 'DBDel', { Family: BLOCK_FAMILY, Key: endpoint }, `deleted AstDB ${BLOCK_FAMILY}/${endpoint}: the store holds no block of endpoint ${endpoint} (cleared while AMI was away)`);
      }
    },
  };
}
