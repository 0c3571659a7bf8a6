// @ts-check
/**
 * Roles of people on the management API, and how a user token's roles claim reads: the worker
 * decides with these functions and the console decides which controls to show with the same ones.
 * Plain ESM with JSDoc types, like every vocabulary (see src/vocab/key-status.mjs). No imports.
 *
 * Roles are ordered: each includes everything the one before it may do.
 * - viewer: reads keys, usage, scope usage, alerts, the audit log and settings;
 * - operator: adds create, rotate, revoke, PATCH (exemptions included), narrowing, quota credits and alert acknowledgements;
 * - admin: adds webhooks, limit groups and alert settings (the leak and unused-key policies among them).
 */

export const ROLES = /** @type {const} */ (["viewer", "operator", "admin"]);
/** @typedef {(typeof ROLES)[number]} Role */

/**
 * What a route of the table asks of its caller: a role, or "public" (no credential, or not a person's).
 * @typedef {Role | "public"} RouteRole
 */

/** One sentence per role, for the OpenAPI document and the docs. */
export const ROLE_DESCRIPTIONS = /** @type {const} */ ({
  viewer: "reads keys, usage, scope usage, alerts, the audit log and settings",
  operator:
    "a viewer who also creates, rotates, narrows, revokes and changes keys (their exemption from the unused-key policy too), credits their quotas and acknowledges alerts",
  admin: "an operator who also manages webhooks, limit groups and alert settings (thresholds, the leak policy and the unused-key policy)",
});

/** USER_TOKEN_DEFAULT_ROLE's values: a role, or "none" (a token without the claim may do nothing). */
export const DEFAULT_ROLE_SETTINGS = /** @type {const} */ ([...ROLES, "none"]);
/** @typedef {(typeof DEFAULT_ROLE_SETTINGS)[number]} DefaultRoleSetting */

/**
 * @param {unknown} value
 * @returns {value is Role}
 */
export function isRole(value) {
  return typeof value === "string" && /** @type {readonly string[]} */ (ROLES).includes(value);
}

/**
 * Whether `have` includes what `need` may do.
 * @param {Role | null} have
 * @param {Role} need
 */
export function roleAllows(have, need) {
  return have !== null && ROLES.indexOf(have) >= ROLES.indexOf(need);
}

/**
 * The highest role among `values` (unknown strings ignored), or null.
 * @param {unknown} values
 * @returns {Role | null}
 */
function highest(values) {
  const list = typeof values === "string" ? [values] : Array.isArray(values) ? values : [];
  /** @type {Role | null} */
  let best = null;
  for (const value of list) if (isRole(value) && (best === null || ROLES.indexOf(value) > ROLES.indexOf(best))) best = value;
  return best;
}

/**
 * What a user token says about its roles: absent (the claim is missing), one role for every tenant
 * it lists (a flat list or a string), or a role per tenant (an object of tenant -> list). The
 * highest known role of a list counts; unknown names are ignored. A claim of any other shape, or
 * a list with no known role, grants no role: it fails closed.
 * @typedef {{ kind: "absent" } | { kind: "every-tenant", role: Role | null } | { kind: "per-tenant", roles: Record<string, Role> }} RoleClaim
 */

/**
 * @param {unknown} value the claim's value
 * @returns {RoleClaim}
 */
export function readRoleClaim(value) {
  if (value === undefined || value === null) return { kind: "absent" };
  if (typeof value === "string" || Array.isArray(value)) return { kind: "every-tenant", role: highest(value) };
  if (typeof value === "object") {
    // No prototype: a tenant named "__proto__" is a key like any other.
    /** @type {Record<string, Role>} */
    const roles = Object.create(null);
    for (const [tenant, listed] of Object.entries(value)) {
      const role = highest(listed);
      if (role !== null) roles[tenant] = role;
    }
    return { kind: "per-tenant", roles };
  }
  return { kind: "every-tenant", role: null };
}

/**
 * The role a user holds in `tenant` (a member of it): what the claim says, else the deployment's default.
 * @param {RoleClaim} claim
 * @param {string} tenant
 * @param {DefaultRoleSetting} defaultRole
 * @returns {Role | null}
 */
export function roleIn(claim, tenant, defaultRole) {
  switch (claim.kind) {
    case "absent":
      return defaultRole === "none" ? null : defaultRole;
    case "every-tenant":
      return claim.role;
    case "per-tenant":
      return Object.hasOwn(claim.roles, tenant) ? (claim.roles[tenant] ?? null) : null;
  }
}
