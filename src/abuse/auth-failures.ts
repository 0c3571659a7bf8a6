/**
 * Brute-force throttling: a client (by CF-Connecting-IP: an IPv4 address, or an IPv6 address's /64,
 * see clientNetwork in src/lib/ip.ts) that keeps presenting missing, malformed,
 * forged, expired, revoked or unknown credentials, to the gateway or the management API, gets 429
 * once it has failed more than AUTH_FAILURE_LIMIT times in a 60 s window, before any signature work,
 * until the window ends.
 *
 * Counting is approximate by design, in two layers: this isolate counts its own failures exactly
 * (fixed 60 s windows), and every failure is also reported to the Workers Rate Limiting binding
 * (AUTH_FAILURES, per Cloudflare location, its `simple.limit` set to the same number in
 * wrangler.toml), whose verdict arrives after the response (`waitUntil`) and throttles the client
 * in this isolate too when other isolates saw the failures. A client keeps the keys this isolate
 * has already verified: a throttled NAT neighbour does not lock out a CI job with a good key.
 * Requests without CF-Connecting-IP (never the case behind Cloudflare) are not throttled.
 */
import { isolateCache, setBounded } from "../lib/bounded-map";
import { clientNetwork } from "../lib/ip";

export const AUTH_FAILURE_WINDOW_MS = 60_000;
const MAX_CLIENTS = 50_000;

interface ClientFailures {
  windowStartMs: number;
  failures: number;
  throttledUntilMs: number;
  /** One audit row per throttled burst: set once the burst has been recorded. */
  burstRecorded: boolean;
}

const clients = isolateCache<string, ClientFailures>("auth-failure-clients", MAX_CLIENTS);

function current(ip: string, nowMs: number): ClientFailures {
  let entry = clients.get(ip);
  if (entry === undefined || nowMs - entry.windowStartMs >= AUTH_FAILURE_WINDOW_MS) {
    entry = {
      windowStartMs: nowMs,
      failures: 0,
      throttledUntilMs: entry && entry.throttledUntilMs > nowMs ? entry.throttledUntilMs : 0,
      burstRecorded: entry !== undefined && entry.throttledUntilMs > nowMs && entry.burstRecorded,
    };
    setBounded(clients, ip, entry, MAX_CLIENTS);
  }
  return entry;
}

/** Seconds until `ip` may fail again (0 when it is not throttled). Synchronous, no I/O. */
export function throttledFor(ip: string | null, nowMs: number): number {
  if (ip === null) return 0;
  const entry = clients.get(clientNetwork(ip));
  if (entry === undefined || entry.throttledUntilMs <= nowMs) return 0;
  return Math.ceil((entry.throttledUntilMs - nowMs) / 1000);
}

function throttle(entry: ClientFailures, untilMs: number): void {
  if (entry.throttledUntilMs <= untilMs) entry.throttledUntilMs = untilMs;
}

/**
 * Counts a failed authentication of `ip`. Returns the seconds the client is now throttled for
 * (this failure is the one past the limit), or 0. The rate-limit binding is told after the response.
 */
export function recordAuthFailure(
  ip: string | null,
  limit: number,
  binding: RateLimit | undefined,
  ctx: Pick<ExecutionContext, "waitUntil">,
  nowMs: number,
): number {
  if (ip === null) return 0;
  const client = clientNetwork(ip);
  const entry = current(client, nowMs);
  entry.failures++;
  if (binding !== undefined) {
    ctx.waitUntil(
      binding.limit({ key: client }).then(
        ({ success }) => {
          if (!success) throttle(current(client, Date.now()), Date.now() + AUTH_FAILURE_WINDOW_MS);
        },
        (err) => console.error("AUTH_FAILURES rate-limit binding failed; counting in this isolate only", err),
      ),
    );
  }
  if (entry.failures > limit) throttle(entry, entry.windowStartMs + AUTH_FAILURE_WINDOW_MS);
  return throttledFor(ip, nowMs);
}

/** True once per throttled burst of `ip`: the caller records that burst (one audit row, not one per attempt). */
export function firstOfBurst(ip: string | null, nowMs: number): boolean {
  if (ip === null) return true;
  const entry = current(clientNetwork(ip), nowMs);
  if (entry.burstRecorded) return false;
  entry.burstRecorded = true;
  return true;
}

/** Test seam. */
export function clearAuthFailures(): void {
  clients.clear();
}
