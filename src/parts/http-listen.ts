import { chmodSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';

/**
 * Listens on HOST:PORT, [IPv6]:PORT or a unix socket (a stale one removed first; made 0660 for
 * the web server's group). An error names the config key that set the address.
 */
export async function listenHttp(server: Server, listen: string, key: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new Error(`${key} ${listen}: ${e.code === 'EADDRINUSE' ? 'in use by another program' : e.message}`)));
    if (listen.startsWith('/')) {
      rmSync(listen, { force: true });
      server.listen(listen, () => resolve());
    } else {
      const at = listen.lastIndexOf(':');
      server.listen(Number(listen.slice(at + 1)), listen.slice(0, at).replace(/^\[|\]$/g, ''), () => resolve());
    }
  });
  if (listen.startsWith('/')) chmodSync(listen, 0o660);
}

/** Closes the server and every connection it holds (keep-alive, event streams). */
export async function closeHttp(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
}
