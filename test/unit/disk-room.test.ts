import { describe, expect, it } from 'vitest';
import { DiskRoomWatch, LOW_ROOM_BYTES } from '../../src/store/disk-room.js';

const MB = 1024 * 1024;

describe('the room left where the state database is', () => {
  it('tells once below 16 MB, naming the directory and what to do, and once when 32 MB are free again', () => {
    const w = new DiskRoomWatch('/var/lib/asterisk-guard');
    expect(w.look(500 * MB)).toBeUndefined();
    const low = w.look(LOW_ROOM_BYTES - 1);
    expect(low?.kind).toBe('store-disk-low');
    expect(low?.text).toContain('16.0 MB free on the file system of /var/lib/asterisk-guard');
    expect(low?.text).toContain('store.path');
    expect(w.look(0)).toBeUndefined();
    // Between the two marks: still low, not told again.
    expect(w.look(20 * MB)).toBeUndefined();
    expect(w.look(32 * MB)?.kind).toBe('store-disk-restored');
    expect(w.look(20 * MB)).toBeUndefined();
    expect(w.look(1 * MB)?.kind).toBe('store-disk-low');
  });
});
