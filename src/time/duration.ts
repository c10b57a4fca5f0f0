const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * The longest duration anything takes: ten years. Longer is "permanent" in words; as a
 * number it overflowed nft's timeouts and Date (a ban "until" year 275760 crashed `list`).
 */
export const MAX_DURATION_MS = 3650 * 86_400_000;

/**
 * Durations as admins write them in fail2ban (`10m`, `1h30m`, `1w`) or plain seconds (`600`).
 * Returns milliseconds, or undefined when the text is not a duration of at most
 * MAX_DURATION_MS.
 */
export function parseDuration(input: string | number): number | undefined {
  const ms = toMs(input);
  return ms !== undefined && Number.isFinite(ms) && ms <= MAX_DURATION_MS ? ms : undefined;
}

function toMs(input: string | number): number | undefined {
  if (typeof input === 'number') return input >= 0 ? input * 1000 : undefined;
  const text = input.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;
  let total = 0;
  let end = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    end = re.lastIndex;
  }
  return end === text.length && end > 0 ? total : undefined;
}

export function formatDuration(ms: number): string {
  for (const [unit, size] of [['w', 604_800_000], ['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
