import { appendFileSync, copyFileSync, mkdtempSync, renameSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileFollower, type FilePosition, type FollowerEvent } from '../../src/source/file-follower.js';
import { systemClock } from '../../src/time/clock.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

function follow(file: string, resume?: FilePosition) {
  const lines: string[] = [];
  const events: FollowerEvent['kind'][] = [];
  let position: FilePosition | undefined;
  const follower = new FileFollower({
    path: file,
    clock: systemClock,
    pollMs: 30,
    resume,
    lines: (l, p) => {
      lines.push(...l);
      position = p;
    },
    event: (e) => events.push(e.kind),
  });
  return { follower, lines, events, position: () => position };
}

async function until(what: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

function logFile(initial = ''): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'ag-follow-'));
  dirs.push(dir);
  const file = path.join(dir, 'messages.log');
  writeFileSync(file, initial);
  return file;
}

describe('FileFollower', () => {
  it('starts at the end, hands on whole lines only, each once', async () => {
    const file = logFile('old 1\nold 2\n');
    const f = follow(file);
    await f.follower.start();
    appendFileSync(file, 'new 1\nnew ');
    await until(() => f.lines.length === 1);
    appendFileSync(file, '2\n');
    await until(() => f.lines.length === 2);
    await new Promise((r) => setTimeout(r, 100));
    await f.follower.stop();
    expect(f.lines).toEqual(['new 1', 'new 2']);
  });

  it('follows a rotation by rename: the old file to its end (Asterisk writes it until logger reload), then the new one', async () => {
    const file = logFile('first\n');
    const f = follow(file);
    await f.follower.start();
    appendFileSync(file, 'a\n');
    await until(() => f.lines.length === 1);
    renameSync(file, `${file}.1`);
    appendFileSync(`${file}.1`, 'b, written before logger reload\n');
    writeFileSync(file, '');
    await until(() => f.events.includes('rotated'));
    appendFileSync(`${file}.1`, 'c, still the old file\n');
    appendFileSync(file, 'd, the new file\n');
    await until(() => f.lines.length === 4);
    await new Promise((r) => setTimeout(r, 100));
    await f.follower.stop();
    expect(f.lines.sort()).toEqual(['a', 'b, written before logger reload', 'c, still the old file', 'd, the new file']);
  });

  it('reads again from the start after a copytruncate', async () => {
    const file = logFile('x\n');
    const f = follow(file);
    await f.follower.start();
    appendFileSync(file, 'before the copy\n');
    await until(() => f.lines.length === 1);
    copyFileSync(file, `${file}.1`);
    truncateSync(file, 0);
    await new Promise((r) => setTimeout(r, 100));
    appendFileSync(file, 'after\n');
    await until(() => f.lines.length === 2);
    await f.follower.stop();
    expect(f.lines).toEqual(['before the copy', 'after']);
    expect(f.events).toContain('truncated');
  });

  it('resumes where it stopped: no line twice, none skipped; in the rotated file when it moved meanwhile', async () => {
    const file = logFile('h\n');
    const first = follow(file);
    await first.follower.start();
    appendFileSync(file, 'one\n');
    await until(() => first.lines.length === 1);
    await first.follower.stop();
    const kept = first.follower.position!;
    appendFileSync(file, 'two, while the guard was down\n');
    const second = follow(file, kept);
    await second.follower.start();
    await until(() => second.lines.length === 1);
    await second.follower.stop();
    expect(second.lines).toEqual(['two, while the guard was down']);
    expect(second.events[0]).toBe('opened');

    appendFileSync(file, 'three, then rotated while down\n');
    renameSync(file, `${file}.1`);
    writeFileSync(file, 'four, in the new file\n');
    const third = follow(file, second.follower.position!);
    await third.follower.start();
    await until(() => third.lines.length === 2);
    await third.follower.stop();
    expect(third.lines).toEqual(['three, then rotated while down', 'four, in the new file']);
    expect(third.events).toContain('resumed-in-rotated');
  });

  it('does not take a new file on a reused inode for the old one (its first line differs)', async () => {
    const file = logFile('first line of the old file\n');
    const position: FilePosition = { ...(await (async () => {
      const f = follow(file);
      await f.follower.start();
      await f.follower.stop();
      return f.follower.position!;
    })()) };
    writeFileSync(file, 'another file, same inode\nsecond\n');
    const f = follow(file, position);
    await f.follower.start();
    await until(() => f.lines.length === 2);
    await f.follower.stop();
    expect(f.lines).toEqual(['another file, same inode', 'second']);
    expect(f.events).toContain('resume-lost');
  });

  it('says when the file is gone, and reads the new one from its start when it is back', async () => {
    const file = logFile('x\n');
    const f = follow(file);
    await f.follower.start();
    unlinkSync(file);
    await until(() => f.events.includes('missing'));
    writeFileSync(file, 'back\n');
    await until(() => f.lines.length === 1);
    await f.follower.stop();
    expect(f.lines).toEqual(['back']);
    expect(f.events.filter((e) => e === 'missing')).toHaveLength(1);
  });

  it('starts on a file that is not there yet, and reads it from its start once it is', async () => {
    const dir = path.dirname(logFile());
    const file = path.join(dir, 'later.log');
    const f = follow(file);
    await f.follower.start();
    expect(f.events).toEqual(['missing']);
    writeFileSync(file, 'created\n');
    await until(() => f.lines.length === 1);
    await f.follower.stop();
    expect(f.lines).toEqual(['created']);
  });
});
