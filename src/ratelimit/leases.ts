/**
 * The isolate's side of per-key rate limits. Each isolate holds, per limited key, a lease: a number
 * of requests the key's counter (src/ratelimit/counter.ts) has already counted as spent, which the
 * isolate admits without asking again. When the lease runs out it asks for a new one, sized to about
 * LEASE_TARGET_MS of the key's recent traffic here, so a busy key costs a Durable Object round trip
 * every few hundred milliseconds per isolate, not one per request, and an unspent lease strands at
 * most that much of the budget.
 *
 * The fast path (lease in hand) is synchronous. Concurrent requests that find the lease empty each
 * ask the counter themselves (workerd forbids one request awaiting another's I/O); every grant
 * lands in the shared lease, so nothing granted is lost.
 */
import type { RateLimits } from "../keys/edge-record";
import { isolateCache, registerCounters, setBounded } from "../lib/bounded-map";
import { rateLimitItem } from "../vocab/headers.mjs";
import type { LeaseGrant, LimitState, RateLimitCounter } from "./counter";

/** A lease should last about this long at the key's current rate here. */
const LEASE_TARGET_MS = 500;
const MAX_LEASE = 100_000;
/** A counter slower than this is treated as unreachable (RATE_LIMIT_FAILURE_MODE applies). */
const COUNTER_TIMEOUT_MS = 1_000;
const MAX_POOLS = 20_000;

interface Pool {
  fingerprint: string;
  available: number;
  validUntilMs: number;
  /** The counter's view at the last grant: what remained after it, and when each window ends. */
  limits: LimitState[];
  /** Admitted from this pool since `sinceMs` (for sizing the next lease). */
  used: number;
  sinceMs: number;
  /** Exhausted: refuse without asking until then. */
  exhaustedUntilMs: number;
  /** Requests of this isolate waiting on the counter right now. */
  waiting: number;
}

const pools = isolateCache<string, Pool>("rate-limit-leases", MAX_POOLS);

/** Round trips to counters made by this isolate (the bench reports them per 1,000 requests). */
export const counterStats = { leases: 0, failures: 0 };
registerCounters("rate-limit-counter", counterStats);

export type LimitDecision =
  | { kind: "admitted"; rateLimit: string; policy: string }
  | { kind: "limited"; rateLimit: string; policy: string; retryAfterS: number }
  | { kind: "unavailable"; policy: string };

/** The RateLimit field: the policy closest to exhaustion as this isolate knows it. */
function rateLimitField(pool: Pool, nowMs: number): string {
  let best: LimitState | undefined;
  let bestRemaining = Number.POSITIVE_INFINITY;
  for (const l of pool.limits) {
    const remaining = l.remaining + pool.available;
    if (remaining < bestRemaining || (remaining === bestRemaining && best !== undefined && l.resetAtMs < best.resetAtMs)) {
      best = l;
      bestRemaining = remaining;
    }
  }
  if (!best) return "";
  return rateLimitItem(best.name, bestRemaining, Math.max(0, Math.ceil((best.resetAtMs - nowMs) / 1000)));
}

function limitedField(pool: Pool, nowMs: number): string {
  const exhausted = pool.limits.filter((l) => l.remaining === 0);
  const worst = exhausted.reduce<LimitState | undefined>((a, l) => (a === undefined || l.resetAtMs > a.resetAtMs ? l : a), undefined);
  return worst ? rateLimitItem(worst.name, 0, Math.max(1, Math.ceil((worst.resetAtMs - nowMs) / 1000))) : "";
}

function admit(pool: Pool, limits: RateLimits, nowMs: number): LimitDecision {
  pool.available--;
  pool.used++;
  return { kind: "admitted", rateLimit: rateLimitField(pool, nowMs), policy: limits.policyHeader };
}

function refuse(pool: Pool, limits: RateLimits, nowMs: number): LimitDecision {
  return {
    kind: "limited",
    rateLimit: limitedField(pool, nowMs),
    policy: limits.policyHeader,
    retryAfterS: Math.max(1, Math.ceil((pool.exhaustedUntilMs - nowMs) / 1000)),
  };
}

/** The decision from this isolate's lease alone, or undefined when the counter must be asked. Synchronous. */
export function decideFromLease(keyId: string, limits: RateLimits, nowMs: number): LimitDecision | undefined {
  const pool = pools.get(keyId);
  if (pool === undefined || pool.fingerprint !== limits.fingerprint) return undefined;
  if (pool.exhaustedUntilMs > nowMs) return refuse(pool, limits, nowMs);
  if (pool.available > 0 && pool.validUntilMs > nowMs) return admit(pool, limits, nowMs);
  return undefined;
}

function want(pool: Pool | undefined, nowMs: number): number {
  if (pool === undefined) return 1;
  const elapsed = Math.max(nowMs - pool.sinceMs, 50);
  const byRate = Math.ceil((pool.used / elapsed) * LEASE_TARGET_MS);
  return Math.min(MAX_LEASE, Math.max(1, byRate, pool.waiting));
}

async function askCounter(
  namespace: DurableObjectNamespace<Rpc.DurableObjectBranded>,
  keyId: string,
  limits: RateLimits,
  count: number,
  nowMs: number,
): Promise<LeaseGrant> {
  counterStats.leases++;
  // RATE_LIMITER's class (src/env.ts types namespaces loosely, so it imports no feature).
  const counters = namespace as unknown as DurableObjectNamespace<RateLimitCounter>;
  const stub = counters.get(counters.idFromName(keyId));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`rate-limit counter did not answer within ${COUNTER_TIMEOUT_MS} ms`)), COUNTER_TIMEOUT_MS);
  });
  try {
    return await Promise.race([stub.lease({ limits: limits.list, want: count, nowMs }), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Asks the key's counter for a lease and decides with it; "unavailable" if the counter cannot be reached. */
export async function decideWithCounter(
  namespace: DurableObjectNamespace<Rpc.DurableObjectBranded>,
  keyId: string,
  limits: RateLimits,
  nowMs: number,
): Promise<LimitDecision> {
  let pool = pools.get(keyId);
  if (pool !== undefined && pool.fingerprint !== limits.fingerprint) pool = undefined;
  if (pool) pool.waiting++;
  let grant: LeaseGrant;
  try {
    grant = await askCounter(namespace, keyId, limits, want(pool, nowMs), nowMs);
  } catch (err) {
    counterStats.failures++;
    logCounterFailure(err);
    return { kind: "unavailable", policy: limits.policyHeader };
  } finally {
    if (pool) pool.waiting--;
  }
  // Other requests may have replaced or refilled the lease meanwhile: merge into what is there now.
  let current = pools.get(keyId);
  if (current === undefined || current.fingerprint !== limits.fingerprint || current.validUntilMs !== grant.validUntilMs) {
    current = {
      fingerprint: limits.fingerprint,
      available: 0,
      validUntilMs: grant.validUntilMs,
      limits: grant.limits,
      used: 0,
      sinceMs: nowMs,
      exhaustedUntilMs: 0,
      waiting: current?.fingerprint === limits.fingerprint ? current.waiting : 0,
    };
  } else if (current.available === 0) {
    // Size the next lease on the traffic since this grant.
    current.used = 0;
    current.sinceMs = nowMs;
  }
  current.available += grant.granted;
  current.limits = grant.limits;
  if (grant.granted === 0 && current.available === 0) current.exhaustedUntilMs = nowMs + grant.retryAfterMs;
  setBounded(pools, keyId, current, MAX_POOLS);
  if (current.available > 0) return admit(current, limits, nowMs);
  return refuse(current, limits, nowMs);
}

const FAILURE_LOG_INTERVAL_MS = 10_000;
let lastFailureLogMs = 0;

/** Logged at most every 10 s per isolate: an outage must be visible, not flood the log. */
function logCounterFailure(err: unknown): void {
  const now = Date.now();
  if (now - lastFailureLogMs < FAILURE_LOG_INTERVAL_MS) return;
  lastFailureLogMs = now;
  console.error(`rate-limit counter unreachable (${counterStats.failures} failures so far in this isolate)`, err);
}

/** Test seam: forget every lease. */
export function clearLeases(): void {
  pools.clear();
}
