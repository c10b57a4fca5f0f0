import { createRequire } from 'node:module';

type PhoneNumbers = typeof import('libphonenumber-js/max');

let loaded: PhoneNumbers | undefined;

/**
 * libphonenumber-js with its full metadata, loaded at first use: about 2.3 MB of heap that only
 * a guard with a `fraud:` section needs (and extra old-generation heap moved benchmark 1 by up
 * to 20% before the daemon turned allocation-site pretenuring off; docs/decisions.md).
 */
export function phoneNumbers(): PhoneNumbers {
  return (loaded ??= createRequire(import.meta.url)('libphonenumber-js/max') as PhoneNumbers);
}
