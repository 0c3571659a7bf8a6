/**
 * Items of the RateLimit-Policy and RateLimit fields (draft-ietf-httpapi-ratelimit-headers-11,
 * structured-field lists of strings with parameters), for rate limits and quotas alike.
 */

/** A structured-field string. */
export function sfString(value: string): string {
  return `"${value.replace(/[\\"]/g, "\\$&")}"`;
}

const DAY_SECONDS = 86_400;

/**
 * A RateLimit-Policy item: `q` the quota, `w` the window in seconds. A quota's `w` is its period
 * where that has one length (a day); a month's varies and a `none` quota has no window, so theirs
 * carry none (the draft makes `w` optional).
 */
export function policyItem(policy: { name: string; limit: number; window_seconds?: number; period?: string }): string {
  const w = policy.window_seconds ?? (policy.period === "day" ? DAY_SECONDS : undefined);
  return `${sfString(policy.name)};q=${policy.limit}${w === undefined ? "" : `;w=${w}`}`;
}

/** A RateLimit item: `r` what remains, `t` seconds until the window ends (absent when it never does). */
export function currentItem(name: string, remaining: number, resetInS: number | null): string {
  return `${sfString(name)};r=${remaining}${resetInS === null ? "" : `;t=${resetInS}`}`;
}
