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
