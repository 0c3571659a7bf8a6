/**
 * Which controls a page shows: the role each operation needs comes from the route table, through
 * the OpenAPI document's `x-keygate-role` (one source); the user's role in a tenant from its token,
 * read by the same function the worker uses (src/vocab/roles.mjs). A control is shown only when
 * both are known and the role allows it; the API still decides (a refusal is shown as it is).
 */
import { type Role, type RouteRole, roleAllows, roleIn } from "../../../src/vocab/roles.mjs";
import type { ApiClient } from "./api";
import type { Session } from "./session";

export type OperationRoles = ReadonlyMap<string, RouteRole>;

const METHODS = ["get", "put", "post", "patch", "delete"] as const;

/** operationId -> x-keygate-role, from a document's paths. */
export function operationRolesOf(doc: unknown): OperationRoles {
  const roles = new Map<string, RouteRole>();
  const paths = (doc as { paths?: Record<string, Record<string, { operationId?: unknown; "x-keygate-role"?: unknown }>> } | null)?.paths;
  for (const item of Object.values(paths ?? {})) {
    for (const method of METHODS) {
      const op = item[method];
      const role = op?.["x-keygate-role"];
      if (typeof op?.operationId === "string" && typeof role === "string") roles.set(op.operationId, role as RouteRole);
    }
  }
  return roles;
}

export async function loadOperationRoles(api: ApiClient): Promise<OperationRoles> {
  return operationRolesOf(await api.json<unknown>("GET", "/api/v1/openapi.json"));
}

/** The signed-in user's role in `tenant` (a session from before roles: the worker's default, admin). */
export function sessionRole(session: Session, tenant: string): Role | null {
  return roleIn(session.roles ?? { kind: "absent" }, tenant, session.defaultRole ?? "admin");
}

/** Whether to show the control for `operationId` in `tenant`: false while the roles are not known. */
export function allows(roles: OperationRoles | null, session: Session, tenant: string, operationId: string): boolean {
  const need = roles?.get(operationId);
  if (need === undefined) return false;
  return need === "public" || roleAllows(sessionRole(session, tenant), need);
}
