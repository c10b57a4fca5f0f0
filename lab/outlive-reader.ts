// The console's reader may go before the run does: `npm run soak | tee soak.log` and a Ctrl-C
// stop tee as well, and the next line written (the SIGINT's own "tearing the lab down") killed
// the process without a word (EPIPE), its namespaces, tmpfs and processes left behind. Lines are
// dropped instead, and the run goes on to tear the lab down.

/** Output to a reader that is gone is dropped; any other output error still ends the process. */
export function outliveTheReader(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') throw e;
    });
  }
}
