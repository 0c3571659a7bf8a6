/**
 * The alert types and webhook events, with no dependencies: the worker validates against them and
 * the console (console/src/lib/types.ts) lists them from the same source.
 */

/** Alert types: usage-driven (the queue consumer), time-driven (the cron), and leak reports. */
export const ALERT_TYPES = [
  "volume",
  "new_ip",
  "refusal_burst",
  "revoked_key_used",
  "key_expiring",
  "key_unused",
  "rate_limited",
  "key.leaked",
  /** Issue 19: a key's or a limit group's quota is down to the tenant's quota_low_percent, or used up. */
  "quota_low",
  "quota_exhausted",
] as const;
export type AlertType = (typeof ALERT_TYPES)[number];

/** Key lifecycle events: webhooks only, no alert. */
export const KEY_EVENTS = ["key.created", "key.revoked", "key.rotated", "key.quota_credited"] as const;
/** What a webhook may subscribe to. */
export const WEBHOOK_EVENTS = [...ALERT_TYPES, ...KEY_EVENTS] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];
