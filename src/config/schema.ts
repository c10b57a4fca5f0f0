import { hostname } from 'node:os';
import { z } from 'zod';
import { prefixField } from './fields.js';
import { FAILURE_KINDS, type FailureKind } from '../events/security-event.js';
import { parseDuration } from '../time/duration.js';
import { phoneNumbers } from '../fraud/phone-numbers.js';
import { isEndpointName } from '../calls/call-event.js';
import { NUMBER_KINDS } from '../fraud/destination.js';
import { FRAUD_ACTIONS } from '../fraud/fraud-config.js';

/** Where an HTTP part listens: HOST:PORT, [IPv6]:PORT, or the path of a unix socket. */
const LISTEN = /^(\/\S+|\[[0-9a-fA-F:.]+\]:\d{1,5}|[0-9.]+:\d{1,5}|[A-Za-z0-9.-]+:\d{1,5})$/;

const duration = (min: number) =>
  z.union([z.string(), z.number()]).transform((v, ctx) => {
    const ms = parseDuration(v);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is not a duration of at most 3650d (use 500ms, 30s, 10m, 1h, 1d, 1w or seconds)` });
      return z.NEVER;
    }
    if (ms < min) {
      ctx.addIssue({ code: 'custom', message: `must be at least ${min} ms` });
      return z.NEVER;
    }
    return ms;
  });

const prefix = prefixField;

const fraudAction = (fallback: (typeof FRAUD_ACTIONS)[number]) => z.enum(FRAUD_ACTIONS).default(fallback);

/** Alert severities, least first: a channel's min_severity names one. */
export const SEVERITIES = ['info', 'warning', 'critical'] as const;

/** A ban length: a duration of 1 s or more, or "permanent" (null). */
const banLength = () =>
  z.union([z.string(), z.number()]).transform((v, ctx): number | null => {
    if (v === 'permanent') return null;
    const ms = parseDuration(v);
    if (ms === undefined || ms < 1000) {
      ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is not a duration from 1s to 3650d, nor "permanent"` });
      return z.NEVER;
    }
    return ms;
  });

const weights = z
  .object(Object.fromEntries(FAILURE_KINDS.map((k) => [k, z.number().min(0).max(100).optional()])))
  .strict()
  .prefault({});

// nft identifiers: validated here so they can be spliced into scripts safely.
const nftName = z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,30}$/, 'letters, digits and _ only, starting with a letter');

export const configSchema = z
  .object({
    ami: z
      .object({
        host: z.string().min(1).optional(),
        port: z.number().int().min(1).max(65535).optional(),
        username: z.string().regex(/^[^\s\r\n]+$/, 'no spaces or line breaks').default('asterisk-guard'),
        secret: z.string().regex(/^[^\r\n]+$/, 'one line, not empty').optional(),
        tls: z
          .union([
            z.boolean(),
            z.object({ ca: z.string().optional(), reject_unauthorized: z.boolean().default(true), servername: z.string().optional() }).strict(),
          ])
          .optional(),
        manager_conf: z.string().default('/etc/asterisk/manager.conf'),
        ping_interval: duration(200).default(5000),
        login_timeout: duration(100).default(10_000),
        reconnect_base: duration(10).default(500),
        reconnect_max: duration(10).default(30_000),
      })
      .strict()
      .prefault({}),
    detect: z
      .object({
        threshold: z.number().positive().default(5),
        half_life: duration(1).default(60_000),
        slow_threshold: z.number().positive().default(20),
        slow_half_life: duration(1).default(3_600_000),
        weights,
        ipv6_prefix: z.number().int().min(16).max(128).default(64),
        max_sources: z.number().int().min(1).default(1_000_000),
        // Decoy account names nobody legitimate uses: one failure against them bans (tripwire).
        decoys: z.array(z.string().min(1)).nullable().default([]).transform((v) => v ?? []),
      })
      .strict()
      .prefault({}),
    policy: z
      .object({
        // fail2ban's bantime.increment: each step is the ban length for the nth ban in the lookback.
        ladder: z
          .array(
            banLength(),
          )
          .min(1)
          // The ledger remembers 7 earlier bans per prefix: 8 steps.
          .max(8)
          .default([600_000, 3_600_000, 86_400_000, 604_800_000])
          .refine((l) => l.every((x, i) => x !== null || i === l.length - 1), 'only the last step may be permanent'),
        lookback: duration(1000).default(30 * 86_400_000),
        // The longest ban an import may set; unset: the ladder's longest step.
        max_imported_bantime: banLength().optional(),
        // The addresses pjsip.conf's identify sections match (trunks) are never banned.
        spare_identified: z.boolean().default(true),
        // The widest prefix `ban` and `import` accept without --force (never over a never-ban address).
        widest_ban: z
          .object({ ipv4: z.number().int().min(0).max(32).default(16), ipv6: z.number().int().min(0).max(128).default(32) })
          .strict()
          .prefault({}),
        // Bans in force at most (about 100 bytes each in the guard, more in the kernel): an
        // attacker with a million addresses must not exhaust memory. At the cap, new bans are
        // widened to their subnet (subnet.ipv4_prefix / ipv6_prefix) or refused; one alert.
        max_bans: z.number().int().min(100).max(10_000_000).default(1_000_000),
        at_max_bans: z.enum(['widen', 'refuse']).default('widen'),
        subnet: z
          .object({
            enabled: z.boolean().default(true),
            count: z.number().int().min(2).default(5),
            ipv4_prefix: z.number().int().min(8).max(31).default(24),
            ipv6_prefix: z.number().int().min(16).max(127).default(48),
          })
          .strict()
          .prefault({}),
        // A swarm in one /24 or /48: its failures add up on the range (default threshold: twice
        // detect.threshold), banned from min_sources distinct sources on its own, shorter ladder.
        range: z
          .object({
            enabled: z.boolean().default(true),
            threshold: z.number().positive().optional(),
            min_sources: z.number().int().min(2).max(4).default(3),
            // A flood (docs/configuration.md): this many failures (default: detect.threshold)
            // within flood_window of the range's first ban it before its score reaches the
            // threshold: a swarm at 2,000 guesses a second gets half the guesses in. 0s: off.
            flood_failures: z.number().int().min(2).max(255).optional(),
            flood_window: duration(0)
              .refine((ms) => ms <= 10_000, 'at most 10s: a flood is a matter of milliseconds; slower swarms are the range score\'s')
              .default(100),
            ipv4_prefix: z.number().int().min(8).max(31).default(24),
            ipv6_prefix: z.number().int().min(16).max(63).default(48),
            ladder: z
              .array(banLength())
              .min(1)
              .max(8)
              .default([300_000, 3_600_000, 86_400_000, 604_800_000])
              .refine((l) => l.every((x, i) => x !== null || i === l.length - 1), 'only the last step may be permanent'),
          })
          .strict()
          .prefault({}),
        // This many sources failing on one account within the window: a siege (each further
        // source failing on it is banned at its first failure) until quiet that long.
        account_attack: z
          .object({ enabled: z.boolean().default(true), sources: z.number().int().min(2).max(100).default(10), window: duration(1000).default(3_600_000), quiet: duration(1000).default(600_000) })
          .strict()
          .prefault({}),
        // `allow:` with every entry commented out is null in YAML: an admin means "none".
        allow: z.array(prefix).nullable().default([]).transform((v) => v ?? []),
      })
      .strict()
      .prefault({}),
    trust: z
      .object({
        duration: duration(1000).default(7 * 86_400_000),
        // A trusted source needs this many times the score to be banned.
        factor: z.number().min(1).default(4),
        guessed_password_failures: z.number().int().min(1).default(3),
      })
      .strict()
      .prefault({}),
    alerts: z
      .object({
        digest_interval: duration(100).default(60_000),
        retries: z.array(duration(10)).max(10).default([5000, 30_000, 120_000, 600_000]),
        channels: z
          .array(
            z.discriminatedUnion('type', [
              z
                .object({
                  type: z.literal('email'),
                  host: z.string().min(1),
                  port: z.number().int().min(1).max(65535).default(587),
                  secure: z.boolean().default(false),
                  starttls: z.boolean().default(true),
                  reject_unauthorized: z.boolean().default(true),
                  user: z.string().optional(),
                  pass: z.string().optional(),
                  from: z.string().min(3),
                  to: z.array(z.string().min(3)).min(1),
                  min_severity: z.enum(SEVERITIES).default('info'),
                })
                .strict(),
              z
                .object({
                  type: z.literal('webhook'),
                  // fetch refuses a URL with credentials; put them in the URL's path or query token instead.
                  url: z.url({ protocol: /^https?$/ }).refine((u) => !/^https?:\/\/[^/?#]*@/.test(u), 'a webhook URL may not hold user:password@ (fetch refuses it): use the token in its path or query'),
                  format: z.enum(['json', 'slack', 'mattermost']).default('json'),
                  min_severity: z.enum(SEVERITIES).default('info'),
                })
                .strict(),
            ]),
          )
          .nullable()
          .default([])
          .transform((v) => v ?? []),
      })
      .strict()
      .prefault({}),
    // Hang up the live calls of a banned source through ARI. Leave url and password unset to
    // read them from http.conf and ari.conf beside manager.conf.
    ari: z
      .object({
        enabled: z.boolean().default(true),
        url: z.url({ protocol: /^https?$/ }).optional(),
        username: z.string().min(1).default('asterisk-guard'),
        password: z.string().min(1).optional(),
      })
      .strict()
      .prefault({}),
    // Every interval the guard logs in to AMI as an account that cannot exist and expects
    // Asterisk's security event about it within the timeout: proof that events still arrive.
    canary: z
      .object({ enabled: z.boolean().default(true), interval: duration(1000).default(300_000), timeout: duration(100).default(15_000) })
      .strict()
      .prefault({}),
    // Asterisk's own log as a second source, for the failures AMI never reports (an anonymous
    // endpoint's calls to nowhere, AMI over HTTP digest, IAX2 with authdebug, FreePBX's dialplan
    // line). Off without this section. Each file is followed from its end, through rotations.
    asterisk_log: z
      .object({
        files: z.array(z.string().regex(/^\//, 'an absolute path, e.g. /var/log/asterisk/messages.log')).default([]),
        // Asterisk's syslog channel in the journal (logger.conf: syslog.local0 => notice,...).
        journal: z
          .object({ identifier: z.string().regex(/^[A-Za-z0-9_.@-]{1,64}$/, 'a syslog identifier, as journalctl -t takes it').default('asterisk') })
          .strict()
          .optional(),
        // How often a file's name is checked for a rotation (reads follow inotify at once).
        poll: duration(100).default(1000),
      })
      .strict()
      .refine((l) => l.files.length > 0 || l.journal !== undefined, { message: 'name the files to follow (files: [/var/log/asterisk/messages.log]) or the journal (journal: {})' })
      .optional(),
    // Blocklists whose sources are dropped before their first guess (issue 26, docs/feeds.md).
    feeds: z
      .array(
        z
          .object({
            name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'lower-case letters, digits, dash or underscore, up to 32'),
            type: z.enum(['list', 'apiban', 'crowdsec']),
            url: z.url({ protocol: /^https?$/ }),
            key: z.string().min(1).optional(),
            interval: duration(1000).optional(),
            max_entries: z.number().int().min(1).max(10_000_000).default(100_000),
            widest: z
              .object({ ipv4: z.number().int().min(8).max(32).default(16), ipv6: z.number().int().min(16).max(128).default(32) })
              .strict()
              .prefault({}),
          })
          .strict()
          .refine((f) => f.type === 'list' || f.key !== undefined, { message: 'apiban and crowdsec feeds need a key (APIBAN key, or the bouncer API key from `cscli bouncers add`)', path: ['key'] }),
      )
      .default([])
      .refine((feeds) => new Set(feeds.map((f) => f.name)).size === feeds.length, { message: 'two feeds with one name: each name is its own sets and status' }),
    // The guard's bans served as a CrowdSec Local API's decision stream, for any CrowdSec
    // bouncer (firewall, nginx, a router) to enforce. Off without this section.
    bouncer_api: z
      .object({
        // HOST:PORT (127.0.0.1 unless you mean it), or the path of a unix socket.
        listen: z.string().regex(LISTEN, 'HOST:PORT, [IPv6]:PORT or /path/to.sock').default('127.0.0.1:8081'),
        keys: z
          .array(z.object({ name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/), key: z.string().min(16, 'at least 16 characters: openssl rand -hex 24') }).strict())
          .min(1, 'one key per bouncer: { name: edge-router, key: ${AG_BOUNCER_KEY} }'),
      })
      .strict()
      .optional(),
    // The web page (off by default): bans, why, unban, allow, the live feed. Log in with the URL
    // `asterisk-guard web-url` prints. HOST:PORT (127.0.0.1 unless a reverse proxy with TLS
    // stands in front), or a unix socket for nginx/Apache.
    web: z
      .object({
        enabled: z.boolean().default(false),
        listen: z.string().regex(LISTEN, 'HOST:PORT, [IPv6]:PORT or /path/to.sock').default('127.0.0.1:9472'),
        // The names the page is reached by, as the browser's Host header gives them (HOST:PORT,
        // or HOST behind a proxy on 443/80): any other name is refused (DNS rebinding). Default:
        // the listen address (and localhost's names for a loopback one).
        hosts: z.array(z.string().regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/, 'a host name or address, with :PORT unless it is 80/443')).optional(),
        // The address admins open, printed by web-url: http://LISTEN by default; behind a proxy
        // (and with a unix socket, required) the proxy's, served at its root: https://pbx.example.com:8443
        url: z.url({ protocol: /^https?$/ }).refine((u) => /^https?:\/\/[^/?#@]+\/?$/.test(u), 'scheme, host and port only: the page is served at the root of its address').optional(),
      })
      .strict()
      .refine((w) => !w.enabled || !w.listen.startsWith('/') || w.url !== undefined, { message: 'a unix socket listen needs web.url: the address your proxy serves the page at (https://pbx.example.com:8443)', path: ['url'] })
      .default({ enabled: false, listen: '127.0.0.1:9472' }),
    // Reports of the guard's own bans to AbuseIPDB (opt-in): single public addresses, once per
    // address per 15 minutes, within a daily budget (the free plan's is 1,000).
    abuseipdb: z
      .object({
        key: z.string().min(1, 'an APIv2 key from your AbuseIPDB account: key: ${AG_ABUSEIPDB_KEY}'),
        url: z.url({ protocol: /^https?$/ }).default('https://api.abuseipdb.com/api/v2/report'),
        daily_budget: z.number().int().min(1).max(1_000_000).default(1000),
      })
      .strict()
      .optional(),
    // Prometheus text endpoint on 127.0.0.1, off by default.
    metrics: z.object({ enabled: z.boolean().default(false), port: z.number().int().min(1).max(65535).default(9471) }).strict().prefault({}),
    store: z
      .object({
        path: z.string().min(1).default('/var/lib/asterisk-guard/state.db'),
        // Audit entries and offense totals (what `why` shows) are kept this long, then forgotten
        // in small batches; ended bans go once policy.lookback no longer escalates on them.
        audit_retention: duration(86_400_000).default(90 * 86_400_000),
      })
      .strict()
      .prefault({}),
    control: z.object({ socket: z.string().min(1).default('/run/asterisk-guard/control.sock') }).strict().prefault({}),
    firewall: z
      .object({
        driver: z.enum(['nftables', 'dry-run']).default('nftables'),
        table: nftName.default('asterisk_guard'),
        priority: z.number().int().min(-400).max(400).default(-310),
        retry_base: duration(10).default(200),
        retry_max: duration(10).default(30_000),
        // How often our table is inspected besides `nft monitor` (which notices at once).
        check_interval: duration(100).default(10_000),
      })
      .strict()
      .prefault({}),
    log: z
      .object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
      .strict()
      .prefault({}),
    // The toll-fraud guard (docs/fraud.md): judges each outbound call at DialBegin. No section:
    // calls are not watched. manager.conf's user needs read = call and write = system.
    fraud: z
      .object({
        // The PBX's country: what a national number (020...) means.
        country: z
          .string()
          .regex(/^[A-Z]{2}$/, 'an ISO 3166 country code in capitals, e.g. GB, DE, US')
          .refine((c) => phoneNumbers().isSupportedCountry(c), 'not a country the phone-number metadata knows'),
        // The digit phones dial for an outside line (9), removed before a number is read.
        outside_prefix: z.string().regex(/^[0-9]{0,4}$/, 'up to 4 digits').default(''),
        // Shorter numbers are extensions and feature codes: never judged.
        min_digits: z.number().int().min(3).max(15).default(6),
        learning: z.object({ period: duration(0).default(7 * 86_400_000), calls: z.number().int().min(0).default(20) }).strict().prefault({}),
        // How often Asterisk's channel list is read (AMI CoreShowChannels): a call no DialBegin
        // told of (the AMI user's read lost `call`) is judged all the same, a lost Hangup does not
        // count a call up for ever. 0: never.
        channel_poll: duration(0)
          .default(1000)
          .refine((ms) => ms === 0 || ms >= 200, 'must be 0 (never) or at least 200ms'),
        // Endpoints never judged: trunks that deliver inbound calls, a dialler.
        ignore_endpoints: z
          .array(z.string().refine(isEndpointName, 'an endpoint name as the guard writes it: 1003 for PJSIP, SIP/1003 for other technologies'))
          .nullable()
          .default([])
          .transform((v) => v ?? []),
        rules: z
          .object({
            risky_number: z
              .object({
                action: fraudAction('block'),
                kinds: z.array(z.enum(NUMBER_KINDS)).default(['premium_rate', 'satellite']),
              })
              .strict()
              .prefault({}),
            new_country: z
              .object({ action: fraudAction('hangup'), allow: z.array(z.string().regex(/^([A-Z]{2}|\+\d{1,3})$/, 'GB, or +881 for a non-geographic code')).default([]) })
              .strict()
              .prefault({}),
            concurrent: z.object({ action: fraudAction('hangup'), floor: z.number().int().min(1).default(4), factor: z.number().min(1).default(2) }).strict().prefault({}),
            per_minute: z.object({ action: fraudAction('hangup'), floor: z.number().int().min(1).default(6), factor: z.number().min(1).default(2) }).strict().prefault({}),
            per_hour: z.object({ action: fraudAction('hangup'), floor: z.number().int().min(1).default(30), factor: z.number().min(1).default(2) }).strict().prefault({}),
            short_calls: z
              .object({ action: fraudAction('alert'), calls: z.number().int().min(2).default(5), shorter_than: duration(1000).default(10_000), window: duration(1000).default(600_000) })
              .strict()
              .prefault({}),
            // An address the endpoint never used, after this many wrong passwords on its account
            // within the window: someone guessed it. Also: a source first seen within the window is new.
            new_source: z.object({ action: fraudAction('block'), failures: z.number().int().min(1).default(5), window: duration(1000).default(3_600_000) }).strict().prefault({}),
            unusual_hour: z.object({ action: fraudAction('alert') }).strict().prefault({}),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .optional(),
    // Many PBXs, one defence (docs/fleet.md). No section: each guard defends alone.
    fleet: z
      .object({
        redis: z.string().regex(/^rediss?:\/\/\S+$/, 'a redis:// or rediss:// (TLS) URL, e.g. rediss://guard:${AG_REDIS_PASSWORD}@redis.example.net:6380'),
        node: z
          .string()
          .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'letters, digits, dot, dash or underscore, up to 63')
          .default(() => hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 63) || 'pbx'),
        widest: z
          .object({ ipv4: z.number().int().min(8).max(32).default(16), ipv6: z.number().int().min(16).max(128).default(32) })
          .strict()
          .prefault({}),
        keep: duration(60_000).default(86_400_000),
        // Other nodes' bans in force at most, all together and per node: a share of their own,
        // never this node's room (policy.max_bans), whatever a node (or a hostile one) publishes.
        max_bans: z.number().int().min(100).max(10_000_000).default(200_000),
        max_bans_per_node: z.number().int().min(10).max(10_000_000).default(50_000),
        // rediss:// with a private CA: the PEM file of the CA that signed Redis's certificate.
        ca: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type RawConfig = z.output<typeof configSchema>;

export interface Config extends RawConfig {
  readonly detect: RawConfig['detect'] & { readonly weights: Readonly<Record<FailureKind, number>> };
}

export const DEFAULT_WEIGHT = 1;

export function finish(raw: RawConfig): Config {
  const w = Object.fromEntries(FAILURE_KINDS.map((k) => [k, raw.detect.weights[k] ?? DEFAULT_WEIGHT])) as Record<FailureKind, number>;
  return Object.freeze({ ...raw, detect: { ...raw.detect, weights: w } });
}
