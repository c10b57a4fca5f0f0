import net from 'node:net';
import { GuardError } from '../errors.js';
import type { Response } from './protocol.js';

/**
 * Sends one request to the daemon's admin socket and returns its data, or throws its error.
 * A long answer (list, export) comes as lines of rows before it: each goes to `onRows` as it
 * arrives, and the timeout counts from the last line, not from the start.
 */
export function request(socketPath: string, body: Record<string, unknown>, timeoutMs = 30_000, onRows?: (rows: readonly unknown[]) => void): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let buffer = '';
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        socket.destroy();
        reject(new GuardError('AG_ERR_CONTROL_CONNECT', `no answer on ${socketPath} within ${timeoutMs} ms`));
      }, timeoutMs);
    };
    arm();
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify(body)}\n`));
    socket.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new GuardError('AG_ERR_CONTROL_CONNECT', `cannot reach the daemon on ${socketPath}: ${e.code ?? e.message}; is asterisk-guard run running, and are you root?`));
    });
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (let nl = buffer.indexOf('\n'); nl !== -1; nl = buffer.indexOf('\n')) {
        const response = JSON.parse(buffer.slice(0, nl)) as Response;
        buffer = buffer.slice(nl + 1);
        if (response.ok && 'rows' in response) {
          onRows?.(response.rows);
          arm();
          continue;
        }
        clearTimeout(timer);
        socket.end();
        if (response.ok) resolve(response.data);
        else reject(new GuardError(response.error.code as 'AG_ERR_CONTROL_REQUEST', response.error.message));
        return;
      }
    });
  });
}
