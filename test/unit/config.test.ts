import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfigFile, parseConfig } from '../../src/config/load.js';
import { ledgerConfig } from '../../src/core.js';
import { parseDuration } from '../../src/time/duration.js';
import { GuardError } from '../../src/errors.js';

function error(yaml: string, env: Record<string, string> = {}): GuardError {
  try {
    parseConfig(yaml, '/etc/asterisk-guard/config.yaml', env);
  } catch (e) {
    if (e instanceof GuardError) return e;
    throw e;
  }
  throw new Error('config was accepted');
}

describe('config', () => {
  it('has working defaults', () => {
    const c = parseConfig('', 'x');
    expect(c.detect.threshold).toBe(5);
    expect(c.policy.ladder).toEqual([600_000, 3_600_000, 86_400_000, 604_800_000]);
    expect(c.firewall.driver).toBe('nftables');
    expect(c.ami.username).toBe('asterisk-guard');
    expect(c.detect.weights.ChallengeResponseFailed).toBe(1);
  });

  it('parses durations and prefixes', () => {
    const c = parseConfig('policy:\n  ladder: [1h30m, permanent]\n  allow:\n    - 198.51.100.0/24\n    - 2001:db8::/32\n', 'x');
    expect(c.policy.ladder).toEqual([5_400_000, null]);
    expect(c.policy.allow.map((p) => p.text)).toEqual(['198.51.100.0/24', '2001:db8::/32']);
  });

  it('names an unknown key and its line', () => {
    const e = error('detect:\n  threshold: 5\n  treshold: 7\n');
    expect(e.code).toBe('AG_ERR_CONFIG_INVALID');
    expect(e.message).toMatch(/config\.yaml:3: detect\.treshold: unknown key/);
  });

  it('names a bad value and its line', () => {
    expect(error('policy:\n  ladder: [10m, 10 minutes]\n').message).toMatch(/:2: policy\.ladder\.1: .*"10 minutes" is not a duration/);
    expect(error('policy:\n  ladder: [permanent, 1h]\n').message).toMatch(/:2: policy\.ladder: only the last step may be permanent/);
    expect(error('policy:\n  allow:\n    - 198.51.100.0/24\n    - 300.1.1.1\n').message).toMatch(/:4: policy\.allow\.1: not an IP address/);
    expect(error('firewall:\n  driver: iptables\n').message).toMatch(/:2: firewall\.driver/);
    expect(error('firewall:\n  table: "x; flush ruleset"\n').message).toMatch(/:2: firewall\.table/);
    expect(error('detect:\n  threshold: -1\n').message).toMatch(/:2: detect\.threshold/);
    expect(error('ami:\n  port: 99999\n').message).toMatch(/:2: ami\.port/);
    expect(error('policy:\n  ladder: [99999999999999999999999999999999s]\n').message).toMatch(/:2: policy\.ladder\.0: .*is not a duration from 1s to 3650d/);
    expect(error('alerts:\n  digest_interval: 3651d\n').message).toMatch(/:2: alerts\.digest_interval: .*at most 3650d/);
    expect(error('alerts:\n  channels:\n    - type: webhook\n      url: http://user:pass@hooks.example/hooks/T0KEN\n').message).toMatch(/:4: alerts\.channels\.0\.url: a webhook URL may not hold user:password@/);
    expect(error('policy:\n  max_imported_bantime: forever\n').message).toMatch(/:2: policy\.max_imported_bantime: "forever" is not a duration from 1s to 3650d, nor "permanent"/);
  });

  it('bounds imported bans by the ladder unless told otherwise', () => {
    expect(ledgerConfig(parseConfig('', 'x')).maxImportedMs).toBe(604_800_000);
    expect(ledgerConfig(parseConfig('policy:\n  ladder: [1h, permanent]\n', 'x')).maxImportedMs).toBe(null);
    expect(ledgerConfig(parseConfig('policy:\n  max_imported_bantime: 2d\n', 'x')).maxImportedMs).toBe(172_800_000);
    expect(ledgerConfig(parseConfig('policy:\n  max_imported_bantime: permanent\n', 'x')).maxImportedMs).toBe(null);
  });

  it('refuses a YAML alias bomb with AG_ERR_CONFIG_YAML, quickly', () => {
    const levels = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 9; i++) levels.push(`l${i}: &l${i} [${Array(9).fill(i === 1 ? '*a' : `*l${i - 1}`).join(',')}]`);
    const started = performance.now();
    const e = error(`${levels.join('\n')}\nami:\n  secret: x\n`);
    expect(e.code).toBe('AG_ERR_CONFIG_YAML');
    expect(e.message).toMatch(/config\.yaml: Excessive alias count .*write the values out/);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('refuses malformed YAML with its line', () => {
    const e = error('detect:\n  threshold: [5\n');
    expect(e.code).toBe('AG_ERR_CONFIG_YAML');
    expect(e.message).toMatch(/config\.yaml:\d+:/);
    expect(error('a: 1\na: 2\n').code).toBe('AG_ERR_CONFIG_YAML');
    expect(error('- just\n- a list\n').code).toBe('AG_ERR_CONFIG_INVALID');
  });

  it('reads a fleet section, the Redis password from the environment, and says what is wrong in one', () => {
    expect(parseConfig('{}', 'x').fleet).toBeUndefined();
    const c = parseConfig('fleet:\n  redis: rediss://guard:${AG_REDIS_PASSWORD}@redis.example.net:6380\n  node: pbx-7\n', 'x', { AG_REDIS_PASSWORD: 'pw' });
    expect(c.fleet).toEqual({ redis: 'rediss://guard:pw@redis.example.net:6380', node: 'pbx-7', widest: { ipv4: 16, ipv6: 32 }, keep: 86_400_000, max_bans: 200_000, max_bans_per_node: 50_000 });
    expect(parseConfig('fleet: { redis: "redis://127.0.0.1" }', 'x').fleet!.node).toMatch(/^[A-Za-z0-9][A-Za-z0-9._-]*$/);
    expect(error('fleet:\n  redis: http://redis.example.net\n').message).toMatch(/:2: fleet\.redis: a redis:\/\/ or rediss:\/\/ \(TLS\) URL/);
    expect(error('fleet:\n  redis: redis://127.0.0.1\n  node: "pbx 7; rm"\n').message).toMatch(/:3: fleet\.node: letters, digits/);
    expect(error('fleet:\n  redis: redis://127.0.0.1\n  widest: { ipv4: 0 }\n').message).toMatch(/:3: fleet\.widest\.ipv4/);
    expect(error('fleet:\n  node: pbx-7\n').message).toMatch(/fleet\.redis/);
    expect(error('fleet:\n  redis: redis://127.0.0.1\n  max_bans_per_node: 0\n').message).toMatch(/:3: fleet\.max_bans_per_node/);
    expect(error('fleet:\n  redis: redis://guard:${AG_REDIS_PASSWORD}@127.0.0.1\n').code).toBe('AG_ERR_CONFIG_ENV');
  });

  it('takes secrets from the environment', () => {
    const c = parseConfig('ami:\n  secret: ${AG_SECRET}\n', 'x', { AG_SECRET: 's3cret' });
    expect(c.ami.secret).toBe('s3cret');
    const e = error('ami:\n  username: g\n  secret: ${AG_SECRET}\n');
    expect(e.code).toBe('AG_ERR_CONFIG_ENV');
    expect(e.message).toMatch(/:3: ami\.secret uses \$\{AG_SECRET\}/);
  });

  it('says which file it cannot read', () => {
    expect(() => loadConfigFile('/nonexistent/config.yaml')).toThrow(/cannot read config \/nonexistent\/config\.yaml/);
    const dir = mkdtempSync(path.join(tmpdir(), 'ag-config-'));
    writeFileSync(path.join(dir, 'c.yaml'), 'log:\n  level: loud\n');
    expect(() => loadConfigFile(path.join(dir, 'c.yaml'))).toThrow(/c\.yaml:2: log\.level/);
  });
});

describe('config: the log, feeds and bouncer sections (issues 25, 26)', () => {
  it('refuses what cannot work, naming the key', () => {
    const bad: Array<[string, RegExp]> = [
      ['asterisk_log: { files: [messages.log] }', /asterisk_log\.files\.0: an absolute path/],
      ['asterisk_log: {}', /asterisk_log: name the files to follow/],
      ['asterisk_log: { journal: { identifier: "a b" } }', /asterisk_log\.journal\.identifier: a syslog identifier/],
      ['feeds: [{ name: x, type: apiban, url: "https://apiban.org/api" }]', /feeds\.0\.key: apiban and crowdsec feeds need a key/],
      ['feeds: [{ name: x, type: list, url: "ftp://example.org/list" }]', /feeds\.0\.url/],
      ['feeds: [{ name: "Bad Name", type: list, url: "https://example.org/l" }]', /feeds\.0\.name: lower-case letters/],
      ['feeds: [{ name: a, type: list, url: "https://example.org/1" }, { name: a, type: list, url: "https://example.org/2" }]', /feeds: two feeds with one name/],
      ['feeds: [{ name: a, type: blocklist, url: "https://example.org/1" }]', /feeds\.0\.type/],
      ['bouncer_api: { keys: [{ name: edge, key: short }] }', /bouncer_api\.keys\.0\.key: at least 16 characters/],
      ['bouncer_api: { keys: [] }', /bouncer_api\.keys: one key per bouncer/],
      ['bouncer_api: { listen: "anywhere", keys: [{ name: edge, key: 0123456789abcdef0 }] }', /bouncer_api\.listen: HOST:PORT/],
      ['abuseipdb: { daily_budget: 100 }', /abuseipdb\.key/],
      ['abuseipdb: { key: k, daily_budget: 0 }', /abuseipdb\.daily_budget/],
      ['abuseipdb: { key: k, url: "ftp://x" }', /abuseipdb\.url/],
      ['web: { enabled: true, listen: /run/asterisk-guard/web.sock }', /web\.url: a unix socket listen needs web\.url/],
      ['web: { enabled: true, listen: "0.0.0.0" }', /web\.listen: HOST:PORT/],
      ['web: { enabled: true, url: "https://pbx.example.com/guard/" }', /web\.url: scheme, host and port only/],
      ['web: { enabled: true, url: "javascript:alert(1)" }', /web\.url/],
      ['web: { enabled: true, hosts: ["pbx.example.com/x"] }', /web\.hosts\.0: a host name or address/],
      ['web: { enabled: yes please }', /web\.enabled/],
      ['web: { enable: true }', /web/],
    ];
    for (const [yaml, message] of bad) expect(() => parseConfig(yaml, 'c.yaml'), yaml).toThrow(message);
  });

  it('takes the defaults', () => {
    const c = parseConfig('asterisk_log: { journal: {} }\nfeeds: [{ name: voipbl, type: list, url: "https://voipbl.org/update/" }]\nbouncer_api: { keys: [{ name: edge, key: 0123456789abcdef0 }] }', 'c.yaml');
    expect(c.asterisk_log).toEqual({ files: [], journal: { identifier: 'asterisk' }, poll: 1000 });
    expect(c.feeds[0]).toMatchObject({ max_entries: 100_000, widest: { ipv4: 16, ipv6: 32 } });
    expect(c.bouncer_api?.listen).toBe('127.0.0.1:8081');
    expect(parseConfig('abuseipdb: { key: k }', 'c.yaml').abuseipdb).toEqual({ key: 'k', url: 'https://api.abuseipdb.com/api/v2/report', daily_budget: 1000 });
    expect(c.web).toEqual({ enabled: false, listen: '127.0.0.1:9472' });
    expect(parseConfig('web: { enabled: true, listen: /run/ag/web.sock, url: "https://pbx.example.com:8443" }', 'c.yaml').web).toMatchObject({ url: 'https://pbx.example.com:8443' });
  });
});

describe('parseDuration', () => {
  it.each([
    ['10m', 600_000],
    ['1h30m', 5_400_000],
    ['500ms', 500],
    ['1w', 604_800_000],
    ['90', 90_000],
    [90, 90_000],
  ] as const)('%j', (input, ms) => expect(parseDuration(input)).toBe(ms));

  it.each(['', 'm', '10 m', '10x', '-5s', '1h 30m', 'ten'])('rejects %j', (input) => expect(parseDuration(input)).toBeUndefined());
});

describe('the fraud section', () => {
  it('is off without it; needs the country; has safe defaults', () => {
    expect(parseConfig('{}', 'x').fraud).toBeUndefined();
    const f = parseConfig('fraud:\n  country: GB\n', 'x').fraud!;
    expect(f).toMatchObject({ country: 'GB', outside_prefix: '', min_digits: 6, learning: { period: 7 * 86_400_000, calls: 20 }, ignore_endpoints: [] });
    expect(f.rules.risky_number).toEqual({ action: 'block', kinds: ['premium_rate', 'satellite'] });
    expect(f.rules.new_country.action).toBe('hangup');
    expect(f.rules.short_calls).toEqual({ action: 'alert', calls: 5, shorter_than: 10_000, window: 600_000 });
  });

  it.each([
    ['fraud: {}\n', /fraud\.country/],
    ['fraud:\n  country: gb\n', /:2: fraud\.country: an ISO 3166 country code in capitals/],
    ['fraud:\n  country: XX\n', /:2: fraud\.country: not a country the phone-number metadata knows/],
    ['fraud:\n  country: GB\n  outside_prefix: "9; Dial"\n', /:3: fraud\.outside_prefix: up to 4 digits/],
    ['fraud:\n  country: GB\n  rules:\n    risky_number: { action: kill }\n', /:4: fraud\.rules\.risky_number\.action/],
    ['fraud:\n  country: GB\n  rules:\n    risky_number: { kinds: [premium] }\n', /fraud\.rules\.risky_number\.kinds/],
    ['fraud:\n  country: GB\n  rules:\n    new_country: { allow: [france] }\n', /:4: fraud\.rules\.new_country\.allow\.0: GB, or \+881/],
    ['fraud:\n  country: GB\n  ignore_endpoints: ["trunk/../x"]\n', /:3: fraud\.ignore_endpoints\.0: an endpoint name/],
    ['fraud:\n  country: GB\n  rules:\n    concurent: { floor: 3 }\n', /:4: fraud\.rules\.concurent: unknown key/],
  ])('names what is wrong: %j', (yaml, message) => {
    expect(error(yaml).message).toMatch(message);
  });
});

describe('swarm floods (issue 23)', () => {
  it('bans a range flooding within 100 ms by default, at detect.threshold failures; 0s turns it off', () => {
    expect(parseConfig('', 'x').policy.range).toMatchObject({ flood_window: 100 });
    expect(parseConfig('policy: { range: { flood_window: 0s, flood_failures: 8 } }', 'x').policy.range).toMatchObject({ flood_window: 0, flood_failures: 8 });
  });

  it.each([
    ['policy:\n  range:\n    flood_window: 20s\n', /:3: policy\.range\.flood_window: at most 10s/],
    ['policy:\n  range:\n    flood_window: soon\n', /:3: policy\.range\.flood_window: "soon" is not a duration/],
    ['policy:\n  range:\n    flood_failures: 1\n', /:3: policy\.range\.flood_failures/],
    ['policy:\n  range:\n    flood_failures: 2.5\n', /:3: policy\.range\.flood_failures/],
  ])('names what is wrong: %j', (yaml, message) => {
    expect(error(yaml).message).toMatch(message);
  });
});

describe('the shipped sample config', () => {
  it('parses and equals the defaults', () => {
    const sample = loadConfigFile(new URL('../../docs/config.sample.yaml', import.meta.url).pathname, {});
    expect(JSON.stringify(sample)).toBe(JSON.stringify(parseConfig('', 'x')));
  });

  it('shows the fraud section as the defaults are', () => {
    const text = readFileSync(new URL('../../docs/config.sample.yaml', import.meta.url), 'utf8');
    const block = text.slice(text.indexOf('# fraud:')).split('\n').map((l) => l.replace(/^# ?/, '').replace(/\s+#.*$/, '')).join('\n');
    expect(JSON.stringify(parseConfig(block, 'x').fraud)).toBe(JSON.stringify(parseConfig('fraud: { country: GB }', 'x').fraud));
  });
});
