import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { compiled } from '../../lab/compiled.js';

// `npm run soak | tee soak.log`, then Ctrl-C: tee went first, and the soak died at its next line
// without a word, leaving the lab up (docs/reliability.md, finding 9).

/** A run that writes a line every 10 ms for 300 ms, then says how it ended; its reader goes after the first line. */
async function runWithReaderGone(guarded: boolean): Promise<{ code: number | null; last: string }> {
  const script = `
    ${guarded ? `const { outliveTheReader } = await import(${JSON.stringify(compiled('lab/outlive-reader.js'))}); outliveTheReader();` : ''}
    const timer = setInterval(() => process.stdout.write('a line\\n'), 10);
    setTimeout(() => { clearInterval(timer); process.send('reached the end'); process.exit(0); }, 300);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let last = 'nothing';
  child.on('message', (m) => (last = String(m)));
  await once(child.stdout!, 'data');
  child.stdout!.destroy();
  child.stderr!.destroy();
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, last };
}

describe('a lab run whose console reader is gone', () => {
  it('goes on to its end (its teardown), where it died at its next line', async () => {
    expect(await runWithReaderGone(false)).toEqual({ code: 1, last: 'nothing' });
    expect(await runWithReaderGone(true)).toEqual({ code: 0, last: 'reached the end' });
  });
});
