// @ts-check
/**
 * The alert types and webhook events, and the values an alert's settings and a webhook delivery
 * take: the worker validates against them, the console lists them and the CLI offers them, from
 * this one file (plain ESM with JSDoc types, for the CLI's sake: see src/vocab/key-status.mjs).
 * No imports.
 */

/**
 * Alert types: usage-driven (the queue consumer), time-driven (the cron), and leak reports.
 *
 * `key.leaked` is spelled with a dot among snake_case names on purpose: it is also a webhook event
 * (WEBHOOK_EVENTS), and webhook events are `key.<verb>` like the key lifecycle events below. Its
 * wire value is public API (webhook payloads and subscriptions, the alerts list and its `?type=`),
 * so it stays as it shipped.
 */
export const ALERT_TYPES = /** @type {const} */ ([
  "volume",
  "new_ip",
  "refusal_burst",
  "revoked_key_used",
  "key_expiring",
  "key_unused",
  "rate_limited",
  "key.leaked",
  // Issue 19 (docs/quotas.md): a key's or limit group's quota is down to quota_low_percent, or used up.
  "quota_low",
  "quota_exhausted",
]);
/** @typedef {(typeof ALERT_TYPES)[number]} AlertType */

/** Key lifecycle events: webhooks only, no alert. */
export const KEY_EVENTS = /** @type {const} */ (["key.created", "key.revoked", "key.rotated", "key.quota_credited"]);
/** @typedef {(typeof KEY_EVENTS)[number]} KeyEvent */

/** What a webhook may subscribe to. */
export const WEBHOOK_EVENTS = /** @type {const} */ ([...ALERT_TYPES, ...KEY_EVENTS]);
/** @typedef {(typeof WEBHOOK_EVENTS)[number]} WebhookEvent */

/** What a tenant's policy does with a leaked live key (tenant settings `leak_action`). */
export const LEAK_ACTIONS = /** @type {const} */ (["revoke", "notify"]);
/** @typedef {(typeof LEAK_ACTIONS)[number]} LeakAction */

/** A webhook delivery's state. */
export const DELIVERY_STATUSES = /** @type {const} */ (["pending", "succeeded", "failed"]);
/** @typedef {(typeof DELIVERY_STATUSES)[number]} DeliveryStatus */
