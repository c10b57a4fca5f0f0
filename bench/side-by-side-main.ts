// Run in a fresh process by bench/run.ts: the lab needs root, and prints its story to stderr.
import { runSideBySide } from './side-by-side.js';

if (process.getuid?.() !== 0) {
  process.stderr.write('the side-by-side benchmark needs root: it starts the lab (namespaces, nft, a chroot)\n');
  process.exit(1);
}
const result = await runSideBySide((line) => process.stderr.write(`   ${line}\n`));
process.stdout.write(`${JSON.stringify(result)}\n`);
