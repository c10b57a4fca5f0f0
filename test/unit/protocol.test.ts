import { describe, expect, it } from 'vitest';
import { parseRequest } from '../../src/control/protocol.js';

describe('admin socket requests', () => {
  it('refuses ban lengths nft and Date cannot hold, before anything acts', () => {
    for (const length of ['"99999999w"', '1e308', '"1e308"', '"3651d"', '-5', '"0s"']) {
      const r = parseRequest(`{"cmd":"ban","prefix":"203.0.113.1","for":${length}}`);
      expect(r.ok, length).toBe(false);
      if (!r.ok) expect(r.message, length).toMatch(/for: .*is not a ban length from 1s to 3650d|for: /);
    }
    const ok = parseRequest('{"cmd":"ban","prefix":"203.0.113.1","for":"3650d","force":true}');
    expect(ok.ok && ok.request).toMatchObject({ cmd: 'ban', for: 3650 * 86_400_000, force: true });
  });

  it('refuses an import whose until is not a time', () => {
    for (const until of ['1e308', '"soon"', '1.5', '-1']) {
      expect(parseRequest(`{"cmd":"import","bans":[{"prefix":"203.0.113.1","until":${until}}]}`).ok, until).toBe(false);
    }
  });
});
