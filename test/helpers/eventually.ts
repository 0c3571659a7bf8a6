/**
 * Polling for what happens after a response (the usage roll-up, webhook deliveries, last_used):
 * reads again until the value is the one awaited or the time is up, then returns the last value
 * read, for the test to assert on (so a timeout fails with the value it saw). Node and workerd alike.
 */
export async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 30_000, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
