/**
 * `last_used` bookkeeping off the request path. Each isolate writes a key's last_used at most once
 * per LAST_USED_INTERVAL_SECONDS, and writes that fall due together go to D1 in one batch inside
 * `ctx.waitUntil`, so a key making thousands of requests a second costs a write a minute. Both
 * planes record uses: the gateway for an accepted request (when no usage pipeline does), the
 * management API for a key that authenticates to it.
 */
import { database } from "../db/client";
import { touchLastUsed } from "../db/keys-repo";
import { isolateCache, setBounded } from "../lib/bounded-map";

/** Uses arriving within this window of the first due one share its D1 batch. */
const BATCH_WINDOW_MS = 20;
const MAX_TRACKED_KEYS = 20_000;

const lastWritten = isolateCache<string, number>("last-used-writes", MAX_TRACKED_KEYS);
let pending = new Map<string, number>();
let flushScheduled = false;

async function flush(d1: D1Database): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, BATCH_WINDOW_MS));
  const batch = pending;
  pending = new Map();
  flushScheduled = false;
  try {
    await touchLastUsed(
      database(d1),
      [...batch].map(([id, at]) => ({ id, at })),
    );
  } catch (err) {
    console.error("last_used write failed; will retry on the next use", err);
    for (const id of batch.keys()) lastWritten.delete(id);
  }
}

export function recordLastUsed(
  d1: D1Database,
  ctx: Pick<ExecutionContext, "waitUntil">,
  keyId: string,
  now: number,
  intervalSeconds: number,
): void {
  const previous = lastWritten.get(keyId);
  if (previous !== undefined && now - previous < intervalSeconds) return;
  setBounded(lastWritten, keyId, now, MAX_TRACKED_KEYS);
  pending.set(keyId, now);
  if (!flushScheduled) {
    flushScheduled = true;
    ctx.waitUntil(flush(d1));
  }
}
