/**
 * Roles of people on the management API, and how a user token's roles claim reads. No imports: the
 * worker, the console and the CLI share it (the console decides which controls to show with the
 * same function the worker decides with).
 *
 * Roles are ordered: each includes everything the one before it may do.
 * - viewer: reads keys, usage, alerts, the audit log and settings;
 * - operator: adds create, rotate, revoke, PATCH (exemptions included), narrowing and alert acknowledgements;
 * - admin: adds webhooks and alert settings (the leak and unused-key policies among them).
 */

export const ROLES = ["viewer", "operator", "admin"] as const;
export type Role = (typeof ROLES)[number];

/** What a route of the table asks of its caller: a role, or "public" (no credential, or not a person's). */
export type RouteRole = Role | "public";

/** One sentence per role, for the OpenAPI document and the docs. */
export const ROLE_DESCRIPTIONS: Readonly<Record<Role, string>> = {
  viewer: "reads keys, usage, scope usage, alerts, the audit log and settings",
  operator:
    "a viewer who also creates, rotates, narrows, revokes and changes keys (their exemption from the unused-key policy too) and acknowledges alerts",
  admin: "an operator who also manages webhooks and alert settings (thresholds, the leak policy and the unused-key policy)",
};

/** USER_TOKEN_DEFAULT_ROLE's values: a role, or "none" (a token without the claim may do nothing). */
export const DEFAULT_ROLE_SETTINGS = [...ROLES, "none"] as const;
export type DefaultRoleSetting = (typeof DEFAULT_ROLE_SETTINGS)[number];

export function isRole(value: unknown): value is Role {
  return typeof value === "string" && (ROLES as readonly string[]).includes(value);
}

/** Whether `have` includes what `need` may do. */
export function roleAllows(have: Role | null, need: Role): boolean {
  return have !== null && ROLES.indexOf(have) >= ROLES.indexOf(need);
}

/** The highest role among `values` (unknown strings ignored), or null. */
function highest(values: unknown): Role | null {
  const list = typeof values === "string" ? [values] : Array.isArray(values) ? values : [];
  let best: Role | null = null;
  for (const value of list) if (isRole(value) && (best === null || ROLES.indexOf(value) > ROLES.indexOf(best))) best = value;
  return best;
}

/**
 * What a user token says about its roles: absent (the claim is missing), one role for every tenant
 * it lists (a flat list or a string), or a role per tenant (an object of tenant -> list). The
 * highest known role of a list counts; unknown names are ignored. A claim of any other shape, or
 * a list with no known role, grants no role: it fails closed.
 */
export type RoleClaim =
  | { kind: "absent" }
  | { kind: "every-tenant"; role: Role | null }
  | { kind: "per-tenant"; roles: Record<string, Role> };

export function readRoleClaim(value: unknown): RoleClaim {
  if (value === undefined || value === null) return { kind: "absent" };
  if (typeof value === "string" || Array.isArray(value)) return { kind: "every-tenant", role: highest(value) };
  if (typeof value === "object") {
    // No prototype: a tenant named "__proto__" is a key like any other.
    const roles: Record<string, Role> = Object.create(null);
    for (const [tenant, listed] of Object.entries(value)) {
      const role = highest(listed);
      if (role !== null) roles[tenant] = role;
    }
    return { kind: "per-tenant", roles };
  }
  return { kind: "every-tenant", role: null };
}

/** The role a user holds in `tenant` (a member of it): what the claim says, else the deployment's default. */
export function roleIn(claim: RoleClaim, tenant: string, defaultRole: DefaultRoleSetting): Role | null {
  switch (claim.kind) {
    case "absent":
      return defaultRole === "none" ? null : defaultRole;
    case "every-tenant":
      return claim.role;
    case "per-tenant":
      return Object.hasOwn(claim.roles, tenant) ? (claim.roles[tenant] ?? null) : null;
  }
}
