/**
 * The isolate's side of rate limits and quotas. Each isolate holds, per counter (a key's, and a
 * limit group's), a lease: a number of units the counter (src/ratelimit/counter.ts) has already
 * counted as spent, which the isolate admits without asking again. A request spends its route's
 * `cost` from the lease of every counter it counts against (its key's, its group's). When a lease
 * cannot cover the cost the isolate asks for a new one, sized to about LEASE_TARGET_MS of the
 * counter's recent traffic here, so a busy key costs a Durable Object round trip every few hundred
 * milliseconds per isolate, not one per request, and an unspent lease strands at most that much.
 *
 * The fast path (leases in hand) is synchronous. Concurrent requests that find a lease short each
 * ask the counter themselves (workerd forbids one request awaiting another's I/O); every grant lands
 * in the shared lease, so nothing granted is lost. A request is admitted only when every lease it
 * needs covers its cost, and then spends from all of them at once (synchronously), so no counter
 * is ever passed.
 */

import { isolateCache, registerCounters, setBounded } from "../lib/bounded-map";
import type { RateLimits } from "../lib/rate-limit-set";
import { rateLimitItem } from "../vocab/headers.mjs";
import type { LeaseGrant, LimitState, RateLimitCounter } from "./counter";

/** A lease should last about this long at the counter's current rate here. */
const LEASE_TARGET_MS = 500;
const MAX_LEASE = 100_000;
/** A counter slower than this is treated as unreachable (RATE_LIMIT_FAILURE_MODE applies). */
const COUNTER_TIMEOUT_MS = 1_000;
/**
 * An exhausted quota, or an exhausted limit of a group, is asked again after this long, not at its
 * window's end: a credit or a group's change reaches every isolate within it. A key's own exhausted
 * rate limit is not asked again before its window ends (a change to it changes the key's
 * fingerprint, which starts a new lease at once).
 */
export const QUOTA_RECHECK_MS = 1_000;
const MAX_POOLS = 20_000;
/** Rounds of asking when concurrent requests spent a fresh grant first (then the request is refused as limited). */
const MAX_ROUNDS = 3;

/** A counter a request counts against: its key's (policies from the edge record) or its limit group's (policies in the counter). */
export type CounterRef = { kind: "key"; id: string; tenant: string; limits: RateLimits } | { kind: "group"; id: string };

interface Pool {
  fingerprint: string;
  available: number;
  validUntilMs: number;
  /** The counter's view at the last grant: what remained after it, and when each window ends. */
  limits: LimitState[];
  /** A group's RateLimit-Policy items, from its counter. */
  policyHeader: string;
  /** Units admitted from this pool since `sinceMs` (for sizing the next lease). */
  used: number;
  sinceMs: number;
  /** Exhausted for requests needing at least `exhaustedNeed` more units: refuse without asking until then. */
  exhaustedUntilMs: number;
  exhaustedNeed: number;
  /** When the exhausted policies refill (ms); null: a quota that never does. */
  retryAtMs: number | null;
  /** The policy that refused. */
  refusedBy: LimitState | undefined;
  /** Units (request costs) of this isolate waiting on the counter right now. */
  waiting: number;
}

const pools = isolateCache<string, Pool>("rate-limit-leases", MAX_POOLS);

/** Round trips to counters made by this isolate (the bench reports them per 1,000 requests). */
export const counterStats = { leases: 0, failures: 0 };
registerCounters("rate-limit-counter", counterStats);

/** Which counter's which policy refused a request. */
export interface RefusedBy {
  counter: "key" | "group";
  /** The key's or the group's id. */
  id: string;
  /** The policy's item name (`burst`, `key.quota`, `group.burst`, `group.quota`). */
  name: string;
  quota: boolean;
}

export type LimitDecision =
  | { kind: "admitted"; rateLimit: string; policy: string }
  | { kind: "limited"; rateLimit: string; policy: string; retryAfterS: number | null; by: RefusedBy }
  | { kind: "unavailable"; policy: string };

function fingerprintOf(ref: CounterRef): string {
  return ref.kind === "key" ? ref.limits.fingerprint : "group";
}

/** The RateLimit-Policy field: the key's policies, then its group's (as its counter last told this isolate). */
export function policyField(refs: readonly CounterRef[]): string {
  let field = "";
  for (const ref of refs) {
    const part = ref.kind === "key" ? ref.limits.policyHeader : (pools.get(ref.id)?.policyHeader ?? "");
    if (part !== "") field = field === "" ? part : `${field}, ${part}`;
  }
  return field;
}

/** The RateLimit field: one item per policy, what remains as this isolate knows it and when its window ends. */
function rateLimitField(held: readonly Pool[], nowMs: number): string {
  let field = "";
  for (const pool of held) {
    for (const l of pool.limits) {
      const item = rateLimitItem(
        l.name,
        l.remaining + pool.available,
        l.resetAtMs === null ? null : Math.max(0, Math.ceil((l.resetAtMs - nowMs) / 1000)),
      );
      field = field === "" ? item : `${field}, ${item}`;
    }
  }
  return field;
}

function validPool(ref: CounterRef): Pool | undefined {
  const pool = pools.get(ref.id);
  return pool !== undefined && pool.fingerprint === fingerprintOf(ref) ? pool : undefined;
}

function admit(held: readonly Pool[], refs: readonly CounterRef[], cost: number, nowMs: number): LimitDecision {
  for (const pool of held) {
    pool.available -= cost;
    pool.used += cost;
  }
  return { kind: "admitted", rateLimit: rateLimitField(held, nowMs), policy: policyField(refs) };
}

function refuse(pool: Pool, ref: CounterRef, held: readonly Pool[], refs: readonly CounterRef[], nowMs: number): LimitDecision {
  const by = pool.refusedBy;
  return {
    kind: "limited",
    rateLimit: rateLimitField(held, nowMs),
    policy: policyField(refs),
    retryAfterS: pool.retryAtMs === null ? null : Math.max(1, Math.ceil((pool.retryAtMs - nowMs) / 1000)),
    by: { counter: ref.kind, id: ref.id, name: by?.name ?? "", quota: by?.period !== undefined },
  };
}

/** Whether this pool's cached exhaustion refuses a request needing `cost` now. */
function refusesNow(pool: Pool, cost: number, nowMs: number): boolean {
  return pool.exhaustedUntilMs > nowMs && cost - Math.max(0, pool.available) >= pool.exhaustedNeed;
}

function covers(pool: Pool | undefined, cost: number, nowMs: number): boolean {
  return pool !== undefined && pool.validUntilMs > nowMs && pool.available >= cost;
}

/**
 * The decision from this isolate's leases alone, or undefined when a counter must be asked.
 * Synchronous. A cost of 0 never touches a counter.
 */
export function decideFromLease(refs: readonly CounterRef[], cost: number, nowMs: number): LimitDecision | undefined {
  const held: Pool[] = [];
  for (const ref of refs) {
    const pool = validPool(ref);
    if (cost === 0) {
      if (pool !== undefined) held.push(pool);
      continue;
    }
    if (pool === undefined) return undefined;
    if (refusesNow(pool, cost, nowMs)) return refuse(pool, ref, [pool], refs, nowMs);
    if (!covers(pool, cost, nowMs)) return undefined;
    held.push(pool);
  }
  return admit(held, refs, cost, nowMs);
}

function want(pool: Pool | undefined, need: number, nowMs: number): number {
  if (pool === undefined) return need;
  const elapsed = Math.max(nowMs - pool.sinceMs, 50);
  const byRate = Math.ceil((pool.used / elapsed) * LEASE_TARGET_MS);
  return Math.min(MAX_LEASE, Math.max(need, byRate, pool.waiting));
}

async function askCounter(
  namespace: DurableObjectNamespace<Rpc.DurableObjectBranded>,
  ref: CounterRef,
  count: number,
  need: number,
  nowMs: number,
): Promise<LeaseGrant> {
  counterStats.leases++;
  // RATE_LIMITER's class (src/env.ts types namespaces loosely, so it imports no feature).
  const counters = namespace as unknown as DurableObjectNamespace<RateLimitCounter>;
  const stub = counters.get(counters.idFromName(ref.id));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`rate-limit counter did not answer within ${COUNTER_TIMEOUT_MS} ms`)), COUNTER_TIMEOUT_MS);
  });
  try {
    const lease =
      ref.kind === "key"
        ? stub.lease({ limits: ref.limits.list, want: count, need, nowMs, alerts: { tenant: ref.tenant, keyId: ref.id } })
        : stub.leaseGroup({ groupId: ref.id, want: count, need, nowMs });
    return (await Promise.race([lease, timeout])) as LeaseGrant;
  } finally {
    clearTimeout(timer);
  }
}

/** Lands a grant in the isolate's pool for `ref` (merging with what other requests left there). */
function merge(ref: CounterRef, grant: LeaseGrant, need: number, nowMs: number): Pool {
  const fingerprint = fingerprintOf(ref);
  let current = pools.get(ref.id);
  if (current === undefined || current.fingerprint !== fingerprint || current.validUntilMs !== grant.validUntilMs) {
    current = {
      fingerprint,
      available: 0,
      validUntilMs: grant.validUntilMs,
      limits: grant.limits,
      policyHeader: grant.policyHeader ?? "",
      used: 0,
      sinceMs: nowMs,
      exhaustedUntilMs: 0,
      exhaustedNeed: 0,
      retryAtMs: null,
      refusedBy: undefined,
      waiting: current?.fingerprint === fingerprint ? current.waiting : 0,
    };
  } else if (current.available <= 0) {
    // Size the next lease on the traffic since this grant.
    current.used = 0;
    current.sinceMs = nowMs;
  }
  current.available += grant.granted;
  current.limits = grant.limits;
  if (grant.policyHeader !== undefined) current.policyHeader = grant.policyHeader;
  if (grant.granted === 0) {
    const short = grant.limits.filter((l) => l.remaining < need);
    // The one refilling last decides Retry-After (a quota that never refills: none).
    const refusedBy = short.reduce<LimitState | undefined>(
      (a, l) => (a === undefined || l.resetAtMs === null || (a.resetAtMs !== null && l.resetAtMs > a.resetAtMs) ? l : a),
      undefined,
    );
    const quota = short.some((l) => l.period !== undefined);
    current.retryAtMs = grant.retryAfterMs === null ? null : nowMs + grant.retryAfterMs;
    // A group's policies change in its counter, unseen by this isolate's fingerprint: ask it again soon too.
    const recheck = quota || ref.kind === "group" || grant.retryAfterMs === null;
    const retryAfterMs = grant.retryAfterMs ?? QUOTA_RECHECK_MS;
    current.exhaustedUntilMs = nowMs + (recheck ? Math.min(QUOTA_RECHECK_MS, retryAfterMs) : retryAfterMs);
    current.exhaustedNeed = need;
    current.refusedBy = refusedBy;
  } else {
    current.exhaustedUntilMs = 0;
  }
  setBounded(pools, ref.id, current, MAX_POOLS);
  return current;
}

/**
 * Asks the counters whose lease cannot cover the request for new leases (in parallel) and decides
 * with them; "unavailable" if a counter cannot be reached.
 */
export async function decideWithCounter(
  namespace: DurableObjectNamespace<Rpc.DurableObjectBranded>,
  refs: readonly CounterRef[],
  cost: number,
  nowMs: number,
): Promise<LimitDecision> {
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const asks: Array<{ ref: CounterRef; pool: Pool | undefined; need: number }> = [];
    for (const ref of refs) {
      const pool = validPool(ref);
      if (pool !== undefined && refusesNow(pool, cost, nowMs)) return refuse(pool, ref, [pool], refs, nowMs);
      if (covers(pool, cost, nowMs)) continue;
      const held = pool !== undefined && pool.validUntilMs > nowMs ? Math.max(0, pool.available) : 0;
      asks.push({ ref, pool, need: Math.max(1, cost - held) });
    }
    if (asks.length > 0) {
      for (const a of asks) if (a.pool) a.pool.waiting += cost;
      let results: PromiseSettledResult<LeaseGrant>[];
      try {
        results = await Promise.allSettled(asks.map((a) => askCounter(namespace, a.ref, want(a.pool, a.need, nowMs), a.need, nowMs)));
      } finally {
        for (const a of asks) if (a.pool) a.pool.waiting -= cost;
      }
      // What a reachable counter granted lands in its lease even when another counter failed (it is counted as spent).
      const failures: unknown[] = [];
      asks.forEach((a, i) => {
        const result = results[i] as PromiseSettledResult<LeaseGrant>;
        if (result.status === "fulfilled") merge(a.ref, result.value, a.need, nowMs);
        else failures.push(result.reason);
      });
      if (failures.length > 0) {
        counterStats.failures++;
        logCounterFailure(failures[0]);
        return { kind: "unavailable", policy: policyField(refs) };
      }
    }
    // Decide synchronously on every pool as it stands now.
    const held: Pool[] = [];
    for (const ref of refs) {
      const pool = validPool(ref);
      if (pool !== undefined && refusesNow(pool, cost, nowMs)) return refuse(pool, ref, [pool], refs, nowMs);
      if (pool !== undefined && covers(pool, cost, nowMs)) held.push(pool);
    }
    if (held.length === refs.length) return admit(held, refs, cost, nowMs);
  }
  // Concurrent requests kept spending what was granted for this one: refuse, as a limit would.
  const ref = refs.find((r) => !covers(validPool(r), cost, nowMs)) ?? (refs[0] as CounterRef);
  const pool = validPool(ref);
  const first = pool?.limits[0];
  return {
    kind: "limited",
    rateLimit: pool ? rateLimitField([pool], nowMs) : "",
    policy: policyField(refs),
    retryAfterS: 1,
    by: { counter: ref.kind, id: ref.id, name: first?.name ?? "", quota: first?.period !== undefined },
  };
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
