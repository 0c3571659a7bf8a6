// @ts-check
/**
 * The vocabulary of quotas, limit groups and per-route cost (issue 19, docs/quotas.md): the worker,
 * the console and the CLI read the same names, defaults and bounds from here. Plain ESM with JSDoc
 * types, like every vocabulary (see src/vocab/key-status.mjs). No imports.
 */

/** A quota's period: calendar-aligned in UTC (`day`: 00:00 UTC, `month`: the 1st, 00:00 UTC); `none` never refills. */
export const QUOTA_PERIODS = /** @type {const} */ (["day", "month", "none"]);
/** @typedef {(typeof QUOTA_PERIODS)[number]} QuotaPeriod */

/** Largest quota `limit`, and the largest credit one request may add. */
export const QUOTA_LIMIT_MAX = 1_000_000_000_000;
export const QUOTA_CREDIT_MAX = 1_000_000_000_000;

/**
 * A quota: at most `limit` calls per `period` (plus what was credited in the current period).
 * @typedef {object} Quota
 * @property {number} limit
 * @property {QuotaPeriod} period
 */

/**
 * Item names in the RateLimit-Policy / RateLimit fields (src/vocab/headers.mjs). A key's own rate
 * limits keep their bare names (`burst`); everything else carries a `.`, which a rate-limit name may
 * not hold, so no two items of one response can share a name.
 */
export const KEY_QUOTA_ITEM = "key.quota";
export const GROUP_ITEM_PREFIX = "group.";
export const GROUP_QUOTA_ITEM = `${GROUP_ITEM_PREFIX}quota`;

/** `cost` of a ROUTE_POLICY rule without one: a request spends one unit of each limit and quota. */
export const DEFAULT_ROUTE_COST = 1;
/** Largest `cost` a route rule may set. */
export const ROUTE_COST_MAX = 1_000_000;

/** quota_low: alert when at most this share of a quota (percent) remains; a tenant setting (0 turns it off). */
export const DEFAULT_QUOTA_LOW_PERCENT = 10;

/** Limit groups per tenant, and a group's name length. */
export const LIMIT_GROUPS_MAX_PER_TENANT = 1_000;
export const LIMIT_GROUP_NAME_MAX_LENGTH = 200;

/** Query parameter of DELETE .../limit-groups/{id}: detach the group's keys instead of refusing with 409. */
export const DETACH_PARAM = "detach";

/** Webhook event of a quota credit (one of KEY_EVENTS, src/vocab/events.mjs). */
export const QUOTA_CREDITED_EVENT = "key.quota_credited";
