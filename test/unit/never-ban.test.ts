import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readIdentifiedAddresses } from '../../src/ami/pjsip-identify.js';
import { parseConfig } from '../../src/config/load.js';
import { buildCore } from '../../src/core.js';
import { describeRefusal, isRefusal } from '../../src/ledger/ban-ledger.js';
import { createLogger } from '../../src/log.js';
import { MAX_OWN_ADDRESSES, NeverBan } from '../../src/policy/never-ban.js';
import { event } from '../support/events.js';
import { prefix as p } from '../support/prefix.js';

const log = createLogger('silent', 'stderr');

// One address per class that can never be a real unicast sender, and what a ban of it says.
const CLASSES: ReadonlyArray<readonly [string, RegExp]> = [
  ['0.0.0.1', /"this network"/],
  ['127.0.0.53', /loopback/],
  ['169.254.1.1', /IPv4 link-local/],
  ['224.0.0.1', /IPv4 multicast/],
  ['239.255.255.250', /IPv4 multicast/],
  ['240.0.0.1', /reserved IPv4/],
  ['255.255.255.255', /broadcast/],
  ['::', /unspecified/],
  ['::1', /IPv6 loopback/],
  ['fe80::1', /IPv6 link-local/],
  ['febf::1', /IPv6 link-local/],
  ['ff02::1', /IPv6 multicast/],
];

describe('never-ban classes', () => {
  it.each(CLASSES)('never scores nor bans %s', (address, why) => {
    const { policy, ledger } = buildCore(parseConfig('detect: { decoys: [admin] }', 'test'), log, { useEventTime: true });
    for (let i = 0; i < 30; i++) expect(policy.handle(event('InvalidAccountID', address, i, { AccountID: 'admin' }))).toEqual([]);
    expect(policy.outcomes.allowed).toBe(30);
    const r = ledger.request({ target: p(address), time: 0, reason: 'manual', origin: 'cli' });
    expect(isRefusal(r) && describeRefusal(r)).toMatch(why);
  });

  it('refuses wide bans that would cover one of them, and leaves ordinary senders alone', () => {
    const never = new NeverBan([], [p('192.0.2.1')]);
    for (const wide of ['0.0.0.0/0', '0.0.0.0/1', '127.0.0.0/7', '::/0', 'fe00::/7', '192.0.2.0/24', 'e000::/3']) {
      expect(never.why(p(wide)), wide).toBeDefined();
    }
    for (const sender of ['203.0.113.7', '198.51.100.0/24', '2001:db8::1', '::ffff:203.0.113.7', '10.1.2.3', '223.255.255.254', 'fec0::1']) {
      expect(never.why(p(sender)), sender).toBeUndefined();
      if (!sender.includes('/')) expect(never.covers(p(sender)), sender).toBe(false);
    }
  });
});

describe('trunks Asterisk identifies by address (pjsip.conf identify)', () => {
  it('reads every match of every identify section, leaves host names out, and never bans them', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ag-pjsip-'));
    writeFileSync(
      path.join(dir, 'pjsip.conf'),
      '[itsp]\ntype = endpoint\n\n[itsp-identify]\ntype = identify\nendpoint = itsp\nmatch = 198.51.100.5, 203.0.113.0/28\nmatch = sip.itsp.example\n\n[phone]\ntype = aor\n',
    );
    const found = readIdentifiedAddresses(dir);
    expect(found.addresses.map((a) => `${a.prefix.text} ${a.section}`)).toEqual(['198.51.100.5 pjsip.conf [itsp-identify]', '203.0.113.0/28 pjsip.conf [itsp-identify]']);
    expect(found.hostnames).toEqual(['sip.itsp.example']);
    const { policy, ledger } = buildCore(parseConfig('{}', 'test'), log, { useEventTime: true });
    policy.neverBan.setIdentified(found.addresses);
    for (let i = 0; i < 30; i++) expect(policy.handle(event('InvalidAccountID', '198.51.100.5', i))).toEqual([]);
    const r = ledger.request({ target: p('203.0.113.0/24'), time: 0, reason: 'manual', origin: 'cli' });
    expect(isRefusal(r) && describeRefusal(r)).toBe('203.0.113.0/24 is never banned (203.0.113.0/28: a trunk Asterisk identifies by address, pjsip.conf [itsp-identify]): it is never banned');
    expect(found.endpoints).toEqual(['itsp']);
    expect(readIdentifiedAddresses(path.join(dir, 'nowhere'))).toEqual({ addresses: [], hostnames: [], endpoints: [] });
  });
});

describe('own addresses learned from LocalAddress (issue 24)', () => {
  it('learns at most MAX_OWN_ADDRESSES: a peer sending thousands cannot make every event scan them, nor spare them all', () => {
    const never = new NeverBan([], []);
    const address = (i: number) => p(`198.18.${i >> 8}.${i & 255}`);
    for (let i = 0; i < 1000; i++) never.learnOwn(address(i));
    expect(never.covers(address(0))).toBe(true);
    expect(never.covers(address(MAX_OWN_ADDRESSES - 1))).toBe(true);
    expect(never.covers(address(MAX_OWN_ADDRESSES))).toBe(false);
    // One already known is known again, whatever the count.
    expect(never.learnOwn(address(1))).toBe(true);
  });
});
