/**
 * The control plane as a Hono app: public endpoints and the management API, one error handler.
 * The data plane (every other path) does not go through Hono; see src/index.ts.
 */
import { Hono } from "hono";
import type { Env } from "./env";
import { ApiError, toErrorResponse } from "./errors";
import { managementRoutes } from "./routes/management";
import { publicRoutes } from "./routes/public";

/** Paths the control plane owns; everything else is proxied to the origin. */
const CONTROL_PLANE_PATH =
  /^\/(?:\.well-known\/jwks\.json|api\/v1\/scopes|_keygate\/health|api\/v1\/tenant\/[^/]+\/(?:api-keys|audit-log)(?:\/.*)?)\/?$/;

export function isControlPlanePath(pathname: string): boolean {
  // Cheap prefix checks first: this runs on every data-plane request.
  if (!pathname.startsWith("/api/v1/") && !pathname.startsWith("/.well-known/") && !pathname.startsWith("/_keygate/")) return false;
  return CONTROL_PLANE_PATH.test(pathname);
}

export function createApp() {
  const app = new Hono<{ Bindings: Env }>({ strict: false });
  app.route("/", publicRoutes());
  app.route("/api/v1/tenant/:tenant", managementRoutes());
  app.notFound(() => toErrorResponse(new ApiError("not_found", "No such management endpoint")));
  app.onError((err) => toErrorResponse(err));
  return app;
}
