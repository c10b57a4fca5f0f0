import type { CountryCode } from 'libphonenumber-js/max';
import { phoneNumbers } from './phone-numbers.js';

// Where a dialled number goes, from Google's libphonenumber metadata (libphonenumber-js "max":
// number types need the full metadata): its country and its kind (fixed line, mobile, premium
// rate, shared cost...). Pure and cached: the same numbers are dialled again and again.

/** libphonenumber's number types in lower case, and `satellite` and `unknown` of our own. */
export const NUMBER_KINDS = [
  'fixed_line',
  'mobile',
  'fixed_line_or_mobile',
  'toll_free',
  'premium_rate',
  'shared_cost',
  'voip',
  'personal_number',
  'pager',
  'uan',
  'voicemail',
  'satellite',
  'unknown',
] as const;
export type NumberKind = (typeof NUMBER_KINDS)[number];

export interface Destination {
  /** ISO 3166 code (`GB`), or `+881` for a non-geographic calling code (satellite, networks). */
  readonly country: string;
  readonly kind: NumberKind;
  /** The number in E.164, for alerts and evidence. */
  readonly e164: string;
}

export interface DialPlan {
  /** The PBX's country: national numbers (`020...`) are read as its numbers. */
  readonly country: CountryCode;
  /** A digit the phones dial to get an outside line (`9`), removed before reading. */
  readonly outsidePrefix: string;
  /** Shorter numbers are internal (extensions, feature codes) and never judged. */
  readonly minDigits: number;
}

// Calling codes of satellite services and international networks (ITU-T E.164 "global
// services"): 870 Inmarsat, 881 GMSS (Iridium, Globalstar, Thuraya), 882 international networks.
// They cost several euros a minute and are a favourite of international revenue share fraud.
const SATELLITE_CODES: ReadonlySet<string> = new Set(['870', '881', '882']);

const CACHE_SIZE = 4096;

export class DestinationReader {
  private readonly cache = new Map<string, Destination | null>();

  constructor(private plan: DialPlan) {}

  /** A reloaded config: what was read under the old plan is read again. */
  replan(plan: DialPlan): void {
    this.plan = plan;
    this.cache.clear();
  }

  /** undefined: an internal number (an extension, a feature code) or not a phone number. */
  read(dialled: string): Destination | undefined {
    const cached = this.cache.get(dialled);
    if (cached !== undefined) return cached ?? undefined;
    const found = this.parse(dialled) ?? null;
    // Oldest out first: a Map keeps insertion order.
    if (this.cache.size >= CACHE_SIZE) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(dialled, found);
    return found ?? undefined;
  }

  private parse(dialled: string): Destination | undefined {
    const { outsidePrefix, minDigits, country } = this.plan;
    // Feature codes (*67..., #31#...) are the PBX's own. Anything else leaves as the digits a
    // carrier routes on: the leading (+)digits, whatever follows them (`#` ending the dialling,
    // a `*1` a `_0.` pattern passes on) dropped, as carriers drop it (issue 24).
    let digits = /^\+?\d+/.exec(dialled)?.[0];
    if (digits === undefined) return undefined;
    if (outsidePrefix !== '' && digits.startsWith(outsidePrefix) && digits.length - outsidePrefix.length >= minDigits) digits = digits.slice(outsidePrefix.length);
    if (digits.replace('+', '').length < minDigits) return undefined;
    const numbers = phoneNumbers();
    let parsed = numbers.parsePhoneNumberFromString(digits, country);
    // undefined for a number that is not valid (getType checks that itself: isValid costs 4 µs more).
    let type = parsed?.getType();
    // Too long to be valid (libphonenumber reads nothing past 17 digits, E.164 allows 15): a
    // carrier routes on the prefix and drops the rest (overlap dialling), so the longest valid
    // prefix is what the call costs. Only then: a search for every invalid number cost
    // benchmark 10 a fifth of its rate.
    if (type === undefined && (parsed === undefined || digits.length - Number(digits.startsWith('+')) > 15)) {
      for (let n = digits.length - 1; n >= minDigits; n--) {
        const shorter = numbers.parsePhoneNumberFromString(digits.slice(0, n), country);
        const shorterType = shorter?.getType();
        if (shorterType !== undefined) {
          [parsed, type] = [shorter, shorterType];
          break;
        }
      }
    }
    if (!parsed) return { country: '??', kind: 'unknown', e164: dialled };
    const code = parsed.countryCallingCode;
    if (SATELLITE_CODES.has(code)) return { country: `+${code}`, kind: 'satellite', e164: parsed.number };
    return { country: parsed.country ?? `+${code}`, kind: type ? (type.toLowerCase() as NumberKind) : 'unknown', e164: parsed.number };
  }
}
