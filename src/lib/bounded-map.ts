/**
 * Per-isolate caches. One convention for all of them: entries are resolved values (never a
 * promise another request created: workerd refuses I/O one request performs for another), a hit
 * is synchronous, a miss does its own asynchronous work and then sets the entry.
 *
 * Every cache is a plain Map made by `isolateCache(name, max)`, so its bound is declared once and
 * the soak test can read every cache's size through `cacheSizes()` (also reachable from the
 * inspector as `globalThis[Symbol.for("keygate.caches")]()`, which is how `npm run soak` reads it).
 * Counters the bench reads (Durable Object round trips, usage events) register the same way.
 */

interface Registered {
  map: Map<unknown, unknown>;
  max: number;
}

const registry = new Map<string, Registered>();

/** A new per-isolate cache, bounded by `max` entries when written through `setBounded`. */
export function isolateCache<K, V>(name: string, max: number): Map<K, V> {
  const map = new Map<K, V>();
  registry.set(name, { map: map as Map<unknown, unknown>, max });
  return map;
}

/** Each registered cache's entry count and bound. */
export function cacheSizes(): Record<string, { size: number; max: number }> {
  const out: Record<string, { size: number; max: number }> = {};
  for (const [name, { map, max }] of registry) out[name] = { size: map.size, max };
  return out;
}

(globalThis as Record<symbol, unknown>)[Symbol.for("keygate.caches")] = cacheSizes;

const counters = new Map<string, Record<string, number>>();

/** Registers an isolate's counters (plain objects its module increments) under `name`. */
export function registerCounters(name: string, values: Record<string, number>): void {
  counters.set(name, values);
}

/**
 * Every registered counter of this isolate: `{ "rate-limit": { leases, failures }, ... }`. The bench
 * and the soak read it through the inspector as `globalThis[Symbol.for("keygate.stats")]()`.
 */
export function isolateCounters(): Record<string, Record<string, number>> {
  return Object.fromEntries([...counters].map(([name, values]) => [name, { ...values }]));
}

(globalThis as Record<symbol, unknown>)[Symbol.for("keygate.stats")] = isolateCounters;

/**
 * Sets `key` as the newest entry of `map` and, past `max` entries, drops the oldest. Maps keep
 * insertion order, so this is a cheap recency-bounded cache for per-isolate state.
 */
export function setBounded<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > max) {
    const oldest = map.keys().next().value;
    if (oldest !== undefined) map.delete(oldest);
  }
}
