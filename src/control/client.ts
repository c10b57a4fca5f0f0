import net from 'node:net';
import { GuardError } from '../errors.js';
import type { Response } from './protocol.js';

/** Sends one request to the daemon's admin socket and returns its data, or throws its error. */
export function request(socketPath: string, body: Record<string, unknown>, timeoutMs = 30_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let buffer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new GuardError('AG_ERR_CONTROL_CONNECT', `no answer on ${socketPath} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify(body)}\n`));
    socket.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new GuardError('AG_ERR_CONTROL_CONNECT', `cannot reach the daemon on ${socketPath}: ${e.code ?? e.message}; is asterisk-guard run running, and are you root?`));
    });
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const nl = buffer.indexOf('\n');
      if (nl === -1) return;
      clearTimeout(timer);
      socket.end();
      const response = JSON.parse(buffer.slice(0, nl)) as Response;
      if (response.ok) resolve(response.data);
      else reject(new GuardError(response.error.code as 'AG_ERR_CONTROL_REQUEST', response.error.message));
    });
  });
}
