/** Waits (up to 5 s) for real I/O (a connection, a delivery) to have happened; time itself is the test clock's. */
export async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!done()) throw new Error('timed out waiting for I/O');
}
