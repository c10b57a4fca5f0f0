import path from 'node:path';
import { PROJECT_ROOT } from '../src/paths.js';

/** A compiled entry point: the lab runs its tools as separate processes inside namespaces. */
export function compiled(name: string): string {
  return path.join(PROJECT_ROOT, 'dist', name);
}
