import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { processRunner } from '../../src/enforce/command-runner.js';

describe('processRunner', () => {
  it('runs a background command (a conntrack walk) below the daemon\'s priority, a foreground one at it', async () => {
    const niceness = async (background: boolean) => Number((await processRunner().run('sh', ['-c', 'sleep 0.2; cut -d" " -f19 /proc/$$/stat'], undefined, undefined, background)).stdout);
    expect(await niceness(false)).toBe(os.getPriority());
    expect(await niceness(true)).toBe(Math.min(19, os.getPriority() + 10));
  });
});
