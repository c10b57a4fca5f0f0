import { describe, expect, it } from 'vitest';
import net from 'node:net';
import { AmiClient, type AmiList, type AmiResponse } from '../../src/ami/client.js';
import { recordReader } from '../../src/events/fields.js';
import { parseConfig } from '../../src/config/load.js';
import { parseRequest } from '../../src/control/protocol.js';
import { buildCore } from '../../src/core.js';
import { decisionBus, type Trouble } from '../../src/effects/bus.js';
import { cutFraudulentCalls, type AmiActions } from '../../src/effects/cut-fraudulent-calls.js';
import { isGuardError } from '../../src/errors.js';
import type { Baseline } from '../../src/fraud/baseline.js';
import { isWorthTelling, type FraudDecision } from '../../src/fraud/fraud-decision.js';
import { MAX_ENDPOINTS } from '../../src/fraud/fraud-config.js';
import { createLogger } from '../../src/log.js';
import { ManualClock } from '../support/manual-clock.js';
import { guardHarness } from '../support/guard-harness.js';
import { until } from '../support/until.js';

const log = createLogger('silent', 'stderr');
const T0 = Date.parse('2026-11-26T01:00:00Z');

/** The daemon's parts the fraud admin command touches: core, store, bus, Guard. */
function setup() {
  const unblocked: string[] = [];
  const { guard, core, store, bus, persister } = guardHarness('fraud: { country: GB }', {
    clock: new ManualClock(T0),
    tollFraud: (c) => ({ guard: c.fraud!, unblockInAsterisk: async (e) => (unblocked.push(e), `AstDB key asterisk-guard/blocked/${e} deleted`) }),
  });
  /** A premium-rate call of `endpoint`, through the pipeline; its decision on the bus as the daemon does. */
  const premium = (endpoint: string, time: number) => {
    const ds = core.pipeline.ingest(recordReader({ Event: 'DialBegin', Channel: `PJSIP/${endpoint}-0000000a`, Exten: '09098790000', Uniqueid: `${time}.1` }), time) ?? [];
    for (const d of ds) if (d.action === 'fraud') bus.emit('fraud', d);
    persister.flush();
    return ds[0] as FraudDecision;
  };
  return { guard, core, store, premium, unblocked, bus };
}

describe('fraud list, why and clear (the admin socket)', () => {
  it('lists a blocked endpoint first, explains it, and clears it in the store and Asterisk', async () => {
    const { guard, store, premium, unblocked } = setup();
    premium('1003', T0);
    const list = await guard.fraud({ cmd: 'fraud', action: 'list' });
    expect(list).toMatchObject({ endpoints: [{ endpoint: '1003', blocked: { since: '2026-11-26T01:00:00.000Z' }, learning: true }] });
    const why = (await guard.fraud({ cmd: "fraud", action: "why", endpoint: "1003" })) as unknown as { decisions: Array<{ verdict: string; hits: Array<{ rule: string }> }>; audit: Array<{ action: string }> };
    expect(why.decisions[0]).toMatchObject({ verdict: 'block', hits: [{ rule: 'risky-number' }] });
    expect(why.audit.map((a) => a.action)).toEqual(['fraud:block']);
    expect(store.fraudBlocks().map((b) => b.endpoint)).toEqual(['1003']);
    expect(await guard.fraud({ cmd: 'fraud', action: 'clear', endpoint: '1003' })).toEqual({ endpoint: '1003', cleared: true, asterisk: 'AstDB key asterisk-guard/blocked/1003 deleted' });
    expect(unblocked).toEqual(['1003']);
    expect(store.fraudBlocks()).toEqual([]);
    expect(store.auditOf('1003').map((a) => a.action)).toEqual(['fraud:clear', 'fraud:block']);
  });

  it('answers unknown and unblocked endpoints with a not-found error', async () => {
    const { guard } = setup();
    for (const r of [{ cmd: 'fraud', action: 'why', endpoint: '1009' }, { cmd: 'fraud', action: 'clear', endpoint: '1009' }] as const) {
      const e = await guard.fraud(r).then(() => undefined, (x: unknown) => x);
      expect(isGuardError(e) && e.code).toBe('AG_ERR_CONTROL_REQUEST');
      expect((e as Error).message).toMatch(/is not (known|blocked)/);
    }
  });

  it('refuses malformed requests before anything acts', () => {
    expect(parseRequest('{"cmd":"fraud","action":"list"}').ok).toBe(true);
    expect(parseRequest('{"cmd":"fraud","action":"clear","endpoint":"PJSIP/1003"}').ok).toBe(true);
    for (const [line, why] of [
      ['{"cmd":"fraud","action":"clear"}', /list takes no endpoint; why and clear take one/],
      ['{"cmd":"fraud","action":"list","endpoint":"1003"}', /list takes no endpoint/],
      ['{"cmd":"fraud","action":"clear","endpoint":"1003/../x"}', /not an endpoint name/],
      ['{"cmd":"fraud","action":"clear","endpoint":"10\\n03"}', /not an endpoint name/],
      ['{"cmd":"fraud","action":"drop","endpoint":"1003"}', /action/],
      ['{"cmd":"fraud","action":"why","endpoint":"' + 'x'.repeat(100) + '"}', /endpoint/],
    ] as const) {
      const r = parseRequest(line);
      expect(r.ok, line).toBe(false);
      if (!r.ok) expect(r.message).toMatch(why);
    }
  });
});

describe('a blocked endpoint that keeps dialling, and made-up endpoints (issue 24)', () => {
  it('2,000 calls of a blocked endpoint: each judged and cut, told (and audited) at the block and at its 10th, 100th and 1,000th call, with the count', () => {
    const { core, store, premium } = setup();
    const told: number[] = [];
    for (let i = 0; i < 2001; i++) {
      const d = premium('1003', T0 + i * 100);
      expect(d.verdict).toBe('block');
      if (isWorthTelling(d)) told.push(d.whileBlocked);
    }
    expect(told).toEqual([0, 1, 10, 100, 1000]);
    expect(store.auditOf('1003', 100)).toHaveLength(5);
    expect(core.fraud!.status('1003', T0)!.cutWhileBlocked).toBe(2000);
  });

  it("100,000 made-up endpoints neither crowd out the PBX's own nor come back at a restart in full", () => {
    const { core, store } = setup();
    const dial = (endpoint: string, i: number) => core.pipeline.ingest(recordReader({ Event: 'DialBegin', Channel: `PJSIP/${endpoint}-0000000b`, Exten: '02079460123', Uniqueid: `${i}.1` }), T0 + i);
    for (let i = 0; i < 100_000; i++) dial(`junk${i}`, i);
    dial('1002', 100_001);
    expect(core.fraud!.baseline('1002')).toMatchObject({ calls: 1 });
    expect(core.fraud!.endpointCount).toBe(MAX_ENDPOINTS);
    store.saveBaselines(core.fraud!.takeChanged(), T0);
    expect(store.baselines(MAX_ENDPOINTS).baselines.size).toBe(MAX_ENDPOINTS);
  });
});

describe('the store keeps baselines and blocks', () => {
  it('gives a restarted guard its blocks and baselines back', () => {
    const { core, store, premium } = setup();
    core.pipeline.ingest(recordReader({ Event: 'DialBegin', Channel: 'PJSIP/1002-0000000b', Exten: '02079460123', Uniqueid: '2.1' }), T0);
    premium('1003', T0 + 1000);
    store.saveBaselines(core.fraud!.takeChanged(), T0 + 2000);
    const again = buildCore(parseConfig('fraud: { country: GB }', 'test'), log, { useEventTime: false });
    again.fraud!.restore(store.baselines(20_000).baselines, store.fraudBlocks());
    expect(again.fraud!.isBlocked('1003')).toBe(true);
    expect(again.fraud!.baseline('1002')).toMatchObject({ calls: 1, countries: { GB: 1 } });
    const next = again.pipeline.ingest(recordReader({ Event: 'DialBegin', Channel: 'PJSIP/1003-0000000c', Exten: '02079460123', Uniqueid: '3.1' }), T0 + 3000);
    expect(next).toMatchObject([{ verdict: 'block', hits: [{ rule: 'blocked' }] }]);
  });

  it('round-trips baselines and names a damaged row instead of trusting it', () => {
    const { core, store } = setup();
    core.pipeline.ingest(recordReader({ Event: 'DialBegin', Channel: 'PJSIP/1002-0000000a', Exten: '02079460123', Uniqueid: '1.1' }), T0);
    store.saveBaselines(core.fraud!.takeChanged(), T0);
    expect(core.fraud!.takeChanged().size).toBe(0);
    const { baselines } = store.baselines(20_000);
    expect(baselines.get('1002')).toMatchObject({ calls: 1, countries: { GB: 1 } });
    store.saveBaselines(new Map([['1004', { calls: 'many' } as unknown as Baseline]]), T0);
    expect(store.baselines(20_000).damaged).toEqual(['1004']);
  });
});

describe('cutting a judged call', () => {
  const decision = (verdict: FraudDecision['verdict']): FraudDecision => ({
    action: 'fraud', verdict, endpoint: '1003', channel: 'PJSIP/1003-0000000a', uniqueid: '1.1', number: '09098790000',
    destination: { country: 'GB', kind: 'premium_rate', e164: '+449098790000' }, source: undefined, banned: false, escalated: false,
    hits: [{ rule: 'risky-number', action: 'block', why: 'premium' }], time: T0, text: 'premium', whileBlocked: 0,
  });
  /** `tree`: the AstDB's keys as DBGetTree lists them, or its refusal. */
  function cutter(answer: (name: string) => AmiResponse | Error, tree: AmiList | Error = { response: { Response: 'Success' }, items: [] }) {
    const bus = decisionBus();
    const sent: string[] = [];
    const troubles: Trouble[] = [];
    bus.on('trouble', (t) => troubles.push(t));
    const ami: AmiActions = {
      async send(name, fields) {
        sent.push(`${name} ${Object.values(fields).join(' ')}`);
        const a = answer(name);
        if (a instanceof Error) throw a;
        return a;
      },
      async sendList(name, fields) {
        sent.push(`${name} ${Object.values(fields).join(' ')}`);
        if (tree instanceof Error) throw tree;
        return tree;
      },
    };
    const cut = cutFraudulentCalls(bus, ami, log, new ManualClock(T0));
    return { bus, sent, troubles, cut };
  }
  const block = (endpoint: string, since: number) => ({ endpoint, since, decision: { ...decision('block'), source: null, endpoint } });

  it('puts every block into the AstDB again at an AMI login (one decided while AMI was away never got there)', async () => {
    const { cut, sent } = cutter(() => ({ Response: 'Success' }));
    await cut.reassert([block('1003', T0), block('1005', T0 + 1000)]);
    expect(sent).toEqual(['DBPut asterisk-guard/blocked 1003 2026-11-26T01:00:00.000Z risky-number', 'DBPut asterisk-guard/blocked 1005 2026-11-26T01:00:01.000Z risky-number', 'DBGetTree asterisk-guard/blocked']);
  });

  it('deletes at an AMI login the AstDB keys of blocks the store no longer holds (cleared while AMI was away), after the puts', async () => {
    const keys = ['/asterisk-guard/blocked/1003', '/asterisk-guard/blocked/1004', '/asterisk-guard/other/1006', '/asterisk-guard/blocked/'];
    const { cut, sent } = cutter(() => ({ Response: 'Success' }), { response: { Response: 'Success' }, items: [...keys.map((Key) => ({ Key })), {}] });
    await cut.reassert([block('1003', T0)]);
    expect(sent).toEqual(['DBPut asterisk-guard/blocked 1003 2026-11-26T01:00:00.000Z risky-number', 'DBGetTree asterisk-guard/blocked', 'DBDel asterisk-guard/blocked 1004']);
  });

  it('still puts the blocks when Asterisk refuses or never answers DBGetTree, and deletes nothing', async () => {
    for (const tree of [{ response: { Response: 'Error', Message: 'Permission denied' }, items: [] }, new Error('no answer to AMI DBGetTree within 2000 ms')]) {
      const { cut, sent } = cutter(() => ({ Response: 'Success' }), tree);
      await cut.reassert([block('1003', T0)]);
      expect(sent).toEqual(['DBPut asterisk-guard/blocked 1003 2026-11-26T01:00:00.000Z risky-number', 'DBGetTree asterisk-guard/blocked']);
    }
  });

  it("cuts every call of a blocked endpoint, but puts its AstDB key once per block (issue 24)", () => {
    const { bus, sent } = cutter(() => ({ Response: 'Success' }));
    bus.emit('fraud', decision('block'));
    for (let n = 1; n <= 3; n++) bus.emit('fraud', { ...decision('block'), whileBlocked: n, uniqueid: `1.${n + 1}` });
    expect(sent.filter((x) => x.startsWith('Hangup'))).toHaveLength(4);
    expect(sent.filter((x) => x.startsWith('DBPut'))).toHaveLength(1);
  });

  it('hangs up first, then sets the AstDB key; an alert sends nothing', async () => {
    const { bus, sent } = cutter(() => ({ Response: 'Success' }));
    bus.emit('fraud', decision('alert'));
    bus.emit('fraud', decision('block'));
    expect(sent).toEqual(['Hangup PJSIP/1003-0000000a 21', expect.stringMatching(/^DBPut asterisk-guard\/blocked 1003 2026-11-26T01:00:00.000Z risky-number$/)]);
  });

  it('says once what to fix when Asterisk refuses, and nothing when the caller hung up first', async () => {
    const { bus, troubles } = cutter((name) => (name === 'Hangup' ? { Response: 'Error', Message: 'No such channel' } : { Response: 'Error', Message: 'Permission denied' }));
    bus.emit('fraud', decision('block'));
    bus.emit('fraud', decision('block'));
    await until(() => troubles.length > 0);
    await new Promise((r) => setTimeout(r, 10));
    expect(troubles.map((t) => t.kind)).toEqual(['fraud-action-failed']);
    expect(troubles[0]!.text).toMatch(/refused AMI DBPut: Permission denied: .*`write = system`/);
    const down = cutter(() => new Error('AMI is not connected'));
    down.bus.emit('fraud', decision('hangup'));
    await until(() => down.troubles.length > 0);
    expect(down.troubles[0]!.text).toMatch(/AMI Hangup failed: AMI is not connected/);
  });
});

describe('AmiClient.send', () => {
  it('answers an action by its ActionID, a list action with its items, and fails when Asterisk is silent or gone', async () => {
    let socket: net.Socket | undefined;
    const server = net.createServer((s) => {
      socket = s;
      s.write('Asterisk Call Manager/9.0.0\r\n');
      s.on('data', (d) => {
        const text = String(d);
        const login = /ActionID: (login-\d+)/.exec(text);
        if (login) s.write(`Response: Success\r\nActionID: ${login[1]}\r\n\r\n`);
        const hangup = /Action: Hangup\r\nActionID: (hangup-\d+)/.exec(text);
        // An event in between, and an answer to someone else's action, change nothing.
        if (hangup) s.write(`Event: Hangup\r\nUniqueid: 1.1\r\n\r\nResponse: Success\r\nActionID: other-1\r\n\r\nResponse: Success\r\nActionID: ${hangup[1]}\r\nMessage: Channel Hungup\r\n\r\n`);
        // As main/db.c answers: a list ack, an event per key, the completion; a security event
        // and an item of someone else's list in between.
        const tree = /Action: DBGetTree\r\nActionID: (dbgettree-\d+)/.exec(text);
        if (tree) {
          const id = tree[1];
          s.write(
            `Response: Success\r\nActionID: ${id}\r\nEventList: start\r\nMessage: Result will follow\r\n\r\n` +
              `Event: DBGetTreeResponse\r\nKey: /asterisk-guard/blocked/1003\r\nVal: x\r\nActionID: ${id}\r\n\r\n` +
              `Event: InvalidPassword\r\nRemoteAddress: IPV4/UDP/203.0.113.9/5060\r\n\r\n` +
              `Event: DBGetTreeResponse\r\nKey: /other/1\r\nVal: y\r\nActionID: other-2\r\n\r\n` +
              `Event: DBGetTreeResponse\r\nKey: /asterisk-guard/blocked/1004\r\nVal: z\r\nActionID: ${id}\r\n\r\n` +
              `Event: DBGetTreeComplete\r\nActionID: ${id}\r\nEventList: Complete\r\nListItems: 2\r\n\r\n`,
          );
        }
        // As main/manager.c answers CoreShowChannels (Asterisk 22): the second caller's name made
        // an Exten line of itself, before the real one.
        const channels = /Action: CoreShowChannels\r\nActionID: (coreshowchannels-\d+)/.exec(text);
        if (channels) {
          const id = channels[1];
          const item = (name: string, exten: string) =>
            `Event: CoreShowChannel\r\nActionID: ${id}\r\nChannel: PJSIP/1004-00000001\r\nChannelState: 6\r\nChannelStateDesc: Up\r\nCallerIDNum: 1004\r\nCallerIDName: ${name}\r\n` +
            `ConnectedLineNum: <unknown>\r\nConnectedLineName: <unknown>\r\nLanguage: en\r\nAccountCode: \r\nContext: lab\r\nExten: ${exten}\r\nPriority: 2\r\nUniqueid: 1795658536.7\r\n` +
            `Linkedid: 1795658536.7\r\nApplication: Dial\r\nApplicationData: PJSIP/${exten}@carrier\r\nDuration: 00:00:03\r\nBridgeId: \r\n\r\n`;
          s.write(`Response: Success\r\nActionID: ${id}\r\nEventList: start\r\nMessage: Channels will follow\r\n\r\n${item('Alice', '09098790000')}${item('Bob\r\nExten: 02079460123', '09098790000')}Event: CoreShowChannelsComplete\r\nActionID: ${id}\r\nEventList: Complete\r\nListItems: 2\r\n\r\n`);
        }
        const refused = /Action: DBDelTree\r\nActionID: (dbdeltree-\d+)/.exec(text);
        if (refused) s.write(`Response: Error\r\nActionID: ${refused[1]}\r\nMessage: Permission denied\r\n\r\n`);
      });
      s.on('error', () => {});
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const clock = new ManualClock(T0);
    const client = new AmiClient({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, username: 'guard', secret: 's', pingIntervalMs: 60_000, loginTimeoutMs: 10_000, reconnectBaseMs: 60_000, reconnectMaxMs: 60_000, clock, events: 'security,call' });
    await expect(client.send('Hangup', { Channel: 'x' }, 1000)).rejects.toThrow(/not connected/);
    await client.start();
    expect(await client.send('Hangup', { Channel: 'PJSIP/1003-0000000a' }, 1000)).toEqual({ Response: 'Success', Message: 'Channel Hungup' });
    const events: string[] = [];
    client.on('event', (f) => events.push(`${f.get('Event')} ${f.get('Key') ?? ''}`.trim()));
    expect(await client.sendList('DBGetTree', { Family: 'asterisk-guard/blocked' }, ['Key'], 1000)).toEqual({
      response: { Response: 'Success', Message: 'Result will follow' },
      items: [{ Key: '/asterisk-guard/blocked/1003' }, { Key: '/asterisk-guard/blocked/1004' }],
    });
    expect(events).toEqual(['InvalidPassword', 'DBGetTreeResponse /other/1']);
    // A field that stands twice is left out of the item: a value must not choose the number judged.
    expect((await client.sendList('CoreShowChannels', {}, ['Channel', 'Exten', 'Duration'], 1000)).items).toEqual([
      { Channel: 'PJSIP/1004-00000001', Exten: '09098790000', Duration: '00:00:03' },
      { Channel: 'PJSIP/1004-00000001', Duration: '00:00:03' },
    ]);
    // A list action refused is answered at once, with no items.
    expect(await client.sendList('DBDelTree', { Family: 'x' }, ['Key'], 1000)).toEqual({ response: { Response: 'Error', Message: 'Permission denied' }, items: [] });
    await expect(client.send('DBPut', { Family: 'a\r\nAction: Originate' }, 1000)).rejects.toThrow(/line break/);
    const silent = expect(client.send('DBPut', { Family: 'f', Key: 'k', Val: 'v' }, 1000)).rejects.toThrow(/no answer to AMI DBPut within 1000 ms/);
    await clock.advance(1000);
    await silent;
    const lost = client.send('DBPut', { Family: 'f', Key: 'k', Val: 'v' }, 1000);
    socket!.destroy();
    await expect(lost).rejects.toThrow(/connection lost/);
    await client.stop();
    await new Promise<void>((r) => server.close(() => r()));
  });
});
