// @ts-check
/**
 * What an audit entry may record: its actions, outcomes and kinds of actor (one list each: the
 * database schema, the query filter and the OpenAPI document derive from them). Plain ESM with
 * JSDoc types, like every vocabulary (see src/vocab/key-status.mjs). No imports.
 */

export const AUDIT_ACTIONS = /** @type {const} */ ([
  "create",
  "list",
  "get",
  "update",
  "rotate",
  "revoke",
  "audit",
  "usage",
  "alerts",
  "update_settings",
  "acknowledge_alert",
  "webhooks",
  "create_webhook",
  "delete_webhook",
  "test_webhook",
  // A leak of a live key was reported and the tenant's policy is to notify only.
  "leak_report",
  // Issue 19: quota credits and limit groups.
  "credit_quota",
  "limit_groups",
  "create_limit_group",
  "update_limit_group",
  "delete_limit_group",
  // Reading a key's scope usage or the tenant's least-privilege report (refusals only: reads are not recorded).
  "scope_usage",
  // A rotation to the scopes a key exercised (POST .../narrow).
  "narrow",
  // A key's exempt_from_unused_policy set or cleared.
  "set_unused_exemption",
]);
/** @typedef {(typeof AUDIT_ACTIONS)[number]} AuditAction */

export const AUDIT_OUTCOMES = /** @type {const} */ (["success", "denied", "invalid", "not_found", "conflict", "throttled", "error"]);
/** @typedef {(typeof AUDIT_OUTCOMES)[number]} AuditOutcome */

/**
 * `leak-report`: keygate acting on a leak report (actor id `github` or `public-report`); `policy`:
 * the unused-key policy revoking a key (actor id `unused`).
 */
export const ACTOR_KINDS = /** @type {const} */ (["user", "key", "anonymous", "leak-report", "policy"]);
/** @typedef {(typeof ACTOR_KINDS)[number]} ActorKind */
