import { FAILURE_KINDS } from '../events/security-event.js';

/**
 * Every tracked source's data in one 64-byte record of one ArrayBuffer: scoring an event
 * touches one cache line (plus the hash table's entry), where a column per field touched
 * eleven. Nothing in it is an object, so the garbage collector never walks it.
 *
 * Byte layout of a record:
 *   0 f64 last seen      8 f64 first seen    16 f32 burst score   20 f32 slow score
 *  24 u32 key word 0    28 u32 key word 1    32 u32 × 4 account hashes
 *  48 u32 service bits  52 u16 key tag       54 u8 flags          55 u8 × 7 failures per kind
 */
export const RECORD_BYTES = 64;

/** Elements of each view in one record: a field of slot n is at `n * STRIDE + FIELD`. */
export const F64_STRIDE = RECORD_BYTES / 8;
/** For the f32 and the u32 view alike. */
export const X32_STRIDE = RECORD_BYTES / 4;
export const U16_STRIDE = RECORD_BYTES / 2;
export const U8_STRIDE = RECORD_BYTES;

/** Field indexes into the views, for slot 0. */
export const F64_LAST = 0;
export const F64_FIRST = 1;
export const F32_SCORE = 4;
export const F32_SLOW = 5;
export const U32_KEY = 6;
export const U32_ACCOUNTS = 8;
export const ACCOUNT_SLOTS = 4;
export const U32_SERVICES = 12;
export const U16_TAG = 26;
export const U8_FLAGS = 54;
export const U8_COUNTS = 55;
export const KIND_SLOTS = 7;
// The layout has room for 7 failure kinds: a new kind must grow the record, not overwrite.
if (FAILURE_KINDS.length !== KIND_SLOTS) throw new Error(`SourceRecords: ${FAILURE_KINDS.length} failure kinds, room for ${KIND_SLOTS}`);

/** Flag bits: the scoreboard's warning, the index's CLOCK reference. */
export const FLAG_WARNED = 1;
export const FLAG_REFERENCED = 2;

export class SourceRecords {
  readonly f64: Float64Array;
  readonly f32: Float32Array;
  readonly u32: Uint32Array;
  readonly u16: Uint16Array;
  readonly u8: Uint8Array;

  /** Allocated at the cap once: the kernel backs the pages as records are first written. */
  constructor(readonly max: number) {
    const buffer = new ArrayBuffer(max * RECORD_BYTES);
    this.f64 = new Float64Array(buffer);
    this.f32 = new Float32Array(buffer);
    this.u32 = new Uint32Array(buffer);
    this.u16 = new Uint16Array(buffer);
    this.u8 = new Uint8Array(buffer);
  }
}
