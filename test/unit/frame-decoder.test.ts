import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AmiFrameDecoder, type MalformedKind } from '../../src/ami/frame-decoder.js';
import type { Fields } from '../../src/events/fields.js';

function decode(chunks: Buffer[], limits?: ConstructorParameters<typeof AmiFrameDecoder>[1]) {
  const frames: Fields[] = [];
  const banners: string[] = [];
  const problems: MalformedKind[] = [];
  const d = new AmiFrameDecoder(
    { frame: (f) => frames.push({ ...f.toFields() }), banner: (b) => banners.push(b), malformed: (k) => problems.push(k) },
    limits,
  );
  for (const c of chunks) d.push(c);
  d.end();
  return { frames, banners, problems };
}

const capture = readFileSync(new URL('../fixtures/ami-svwar-svcrack.raw', import.meta.url));

describe('AmiFrameDecoder', () => {
  it('decodes a real Asterisk 22 capture: banner, login response, 35 events, names as sent', () => {
    const { frames, banners, problems } = decode([capture]);
    expect(banners).toEqual(['Asterisk Call Manager/11.0.0']);
    expect(problems).toEqual([]);
    expect(frames[0]).toMatchObject({ Response: 'Success', Message: 'Authentication accepted' });
    const events = frames.filter((f) => f['Event']);
    expect(events).toHaveLength(35);
    expect(Object.keys(events[1]!)).toContain('RemoteAddress');
    expect(events.filter((e) => e['Event'] === 'ChallengeResponseFailed')).toHaveLength(31);
    const sent = events.find((e) => e['Event'] === 'ChallengeSent')!;
    expect(sent['Challenge']).toBe('');
  });

  it('gives the same frames whatever byte the input is split at', () => {
    const whole = JSON.stringify(decode([capture]).frames);
    for (let i = 1; i < capture.length; i++) {
      const split = decode([capture.subarray(0, i), capture.subarray(i)]);
      if (JSON.stringify(split.frames) !== whole || split.problems.length > 0) {
        expect.fail(`split at byte ${i} changed the frames or reported ${split.problems.join(',')}`);
      }
    }
  });

  it('gives the same frames fed one byte at a time (UTF-8 split inside a character)', () => {
    const text = Buffer.from('Event: InvalidAccountID\r\nAccountID: jörg€\r\nService: PJSIP\r\n\r\n');
    const bytes = [...text].map((b) => Buffer.from([b]));
    expect(decode(bytes).frames).toEqual([{ Event: 'InvalidAccountID', AccountID: 'jörg€', Service: 'PJSIP' }]);
  });

  it('accepts LF-only line ends', () => {
    const { frames } = decode([Buffer.from('Event: A\nX: 1\n\nEvent: B\n\n')]);
    expect(frames).toEqual([{ Event: 'A', X: '1' }, { Event: 'B' }]);
  });

  it('skips garbage bytes and keeps the frames after them', () => {
    const garbage = Buffer.from([0xff, 0xfe, 0x00, 0x41, 0x0d, 0x0a, 0x0d, 0x0a]);
    const { frames, problems } = decode([garbage, Buffer.from('Event: ChallengeSent\r\nService: PJSIP\r\n\r\n')]);
    expect(problems).toEqual(['line-without-colon']);
    expect(frames).toEqual([{ Event: 'ChallengeSent', Service: 'PJSIP' }]);
  });

  it('drops a 1 MB line with its frame, bounded memory, and recovers', () => {
    const huge = Buffer.alloc(1024 * 1024, 'A');
    const chunks = [Buffer.from('Event: InvalidAccountID\r\nAccountID: '), huge.subarray(0, 300_000), huge.subarray(300_000), Buffer.from('\r\nService: AMI\r\n\r\nEvent: FailedACL\r\n\r\n')];
    const { frames, problems } = decode(chunks);
    expect(problems).toEqual(['oversized-line']);
    expect(frames).toEqual([{ Event: 'FailedACL' }]);
  });

  it('drops a frame with too many fields', () => {
    const lines = Array.from({ length: 300 }, (_, i) => `K${i}: v`).join('\r\n');
    const { frames, problems } = decode([Buffer.from(`Event: X\r\n${lines}\r\n\r\nEvent: Y\r\n\r\n`)]);
    expect(problems).toEqual(['oversized-frame']);
    expect(frames).toEqual([{ Event: 'Y' }]);
  });

  it('reports and drops a half frame at disconnect', () => {
    const { frames, problems } = decode([Buffer.from('Event: ChallengeResponseFailed\r\nService: PJSIP\r\nRemoteAdd')]);
    expect(frames).toEqual([]);
    expect(problems).toEqual(['truncated-frame']);
  });

  it('keeps the first value of a repeated key', () => {
    const { frames } = decode([Buffer.from('Event: A\r\nRemoteAddress: first\r\nRemoteAddress: second\r\n\r\n')]);
    expect(frames[0]!['RemoteAddress']).toBe('first');
  });
});
