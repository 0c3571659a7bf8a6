/**
 * Where a counted policy's current window starts and ends. A rate limit's windows are fixed and
 * aligned to the unix epoch ([k*W, (k+1)*W)); a quota's period is calendar-aligned in UTC (a `day`
 * from 00:00 UTC, a `month` from the 1st at 00:00 UTC); a `none` quota has one window that never ends.
 */
import type { QuotaPeriod } from "../vocab/quotas.mjs";

/** A rate limit ({window_seconds}) or a quota ({period}), as the counter counts it. */
export type CountedPolicy = { name: string; limit: number } & ({ window_seconds: number } | { period: QuotaPeriod });

export interface Window {
  /** The window's index (the same index is the same window). */
  w: number;
  /** When it ends (ms), or null for a quota that never refills. */
  endMs: number | null;
}

const DAY_MS = 86_400_000;

export function isQuota(policy: CountedPolicy): policy is { name: string; limit: number; period: QuotaPeriod } {
  return "period" in policy;
}

export function currentWindow(policy: CountedPolicy, nowMs: number): Window {
  if (!isQuota(policy)) {
    const windowMs = policy.window_seconds * 1000;
    const w = Math.floor(nowMs / windowMs);
    return { w, endMs: (w + 1) * windowMs };
  }
  switch (policy.period) {
    case "day": {
      const w = Math.floor(nowMs / DAY_MS);
      return { w, endMs: (w + 1) * DAY_MS };
    }
    case "month": {
      const d = new Date(nowMs);
      const year = d.getUTCFullYear();
      const month = d.getUTCMonth();
      return { w: year * 12 + month, endMs: Date.UTC(year, month + 1, 1) };
    }
    case "none":
      return { w: 0, endMs: null };
  }
}

/** The counter's storage key of a policy: a rate limit by window and name (as before quotas), the one quota by period. */
export function storageKeyOf(policy: CountedPolicy): string {
  return isQuota(policy) ? `quota:${policy.period}` : `${policy.window_seconds}:${policy.name}`;
}
