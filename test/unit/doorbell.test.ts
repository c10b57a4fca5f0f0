import { describe, expect, it } from 'vitest';
import { ReplySkipper } from '../../src/fleet/doorbell.js';

// The doorbell reads what Redis answers to XREAD without keeping it: RESP2 as Redis sends it,
// in chunks cut anywhere, and whatever a hostile writer made of the stream.

const feedAll = (s: ReplySkipper, chunks: readonly (string | Buffer)[]) => chunks.flatMap((c) => s.feed(typeof c === 'string' ? Buffer.from(c) : c));
const entry = (id: string, reason: string) => `*2\r\n$${id.length}\r\n${id}\r\n*4\r\n$2\r\nop\r\n$3\r\nban\r\n$6\r\nreason\r\n$${Buffer.byteLength(reason)}\r\n${reason}\r\n`;
const xread = (...entries: string[]) => `*1\r\n*2\r\n$4\r\nbans\r\n*${entries.length}\r\n${entries.join('')}`;

describe('ReplySkipper', () => {
  it('tells a timed-out XREAD (null) from one that found entries, and OK from an error', () => {
    expect(feedAll(new ReplySkipper(), ['*-1\r\n', '+OK\r\n', '-NOPERM no permissions\r\n'])).toEqual([{ kind: 'null' }, { kind: 'ok' }, { kind: 'error', text: 'NOPERM no permissions' }]);
    expect(feedAll(new ReplySkipper(), [xread(entry('1-0', 'x'), entry('1-1', 'y'))])).toEqual([{ kind: 'array' }]);
  });

  it('finds the end of a reply cut into one-byte chunks, with empty and null elements inside', () => {
    const reply = xread(entry('1-0', ''), '*2\r\n$3\r\n2-0\r\n*-1\r\n') + '*-1\r\n';
    const bytes = Buffer.from(reply);
    const got = feedAll(new ReplySkipper(), Array.from(bytes, (_, i) => bytes.subarray(i, i + 1)));
    expect(got).toEqual([{ kind: 'array' }, { kind: 'null' }]);
  });

  it('stops at a bulk string longer than 64 KB: it is never received', () => {
    const s = new ReplySkipper();
    expect(s.feed(Buffer.from(`*1\r\n*2\r\n$4\r\nbans\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$6\r\nreason\r\n$${512 * 1024 * 1024}\r\nxxxx`))).toEqual([{ kind: 'too-large' }]);
  });

  it('says when Redis does not speak RESP: an unknown type byte, or a line without end', () => {
    expect(new ReplySkipper().feed(Buffer.from('HTTP/1.1 400\r\n'))).toEqual([{ kind: 'error', text: 'an unexpected reply line "HTTP/1.1 400"' }]);
    expect(new ReplySkipper().feed(Buffer.from('*'.repeat(100)))).toEqual([{ kind: 'error', text: 'a reply line longer than 64 bytes' }]);
  });
});
