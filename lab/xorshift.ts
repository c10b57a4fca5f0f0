/**
 * xorshift32: numbers below `n` from a seed, the same on every machine. A linear congruential
 * generator's low bits repeat within a few steps (it once gave benchmark 11's log one failure
 * kind from 210 sources instead of eight from thousands); these do not.
 */
export function xorshift32(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1;
  return (n) => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) % n;
  };
}
