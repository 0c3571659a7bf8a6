// The few statistics the bench and the soak need.

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export const mean = (xs) => (xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length);

/** Rounded to `d` decimals for JSON and tables; non-finite values pass through. */
export const round = (x, d = 2) => (Number.isFinite(x) ? Number(x.toFixed(d)) : x);

/** count, total, mean, p50, p99, max of latencies in ms. */
export function latencyStats(latencies, totalMs) {
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    count: latencies.length,
    totalMs: round(totalMs, 0),
    meanMs: round(mean(latencies), 3),
    p50Ms: round(percentile(sorted, 50), 3),
    p99Ms: round(percentile(sorted, 99), 3),
    maxMs: round(sorted[sorted.length - 1], 3),
  };
}
