/** Exit codes a script can rely on. */
export const EXIT = { ok: 0, failure: 1, usage: 2, config: 3, notFound: 4 } as const;
