/** Unauthenticated control-plane endpoints: the JWKS, the scope catalog and health. */
import { Hono } from "hono";
import { signingKeys } from "../auth/signing-keys";
import { scopeCatalog } from "../config";
import type { Env } from "../env";
import { jsonResponse, methodNotAllowed } from "../http/responses";

/** Origins cache the JWKS; a new signing key must be published at least this long before it signs. */
export const JWKS_MAX_AGE_SECONDS = 300;

export function publicRoutes() {
  const app = new Hono<{ Bindings: Env }>({ strict: false });

  app.get("/.well-known/jwks.json", async (c) => {
    const ring = await signingKeys(c.env.SIGNING_KEYS);
    return jsonResponse(ring.jwks, 200, { "cache-control": `public, max-age=${JWKS_MAX_AGE_SECONDS}` });
  });

  app.get("/api/v1/scopes", (c) => jsonResponse(Object.fromEntries(scopeCatalog(c.env)), 200, { "cache-control": "public, max-age=60" }));

  app.get("/_keygate/health", () => jsonResponse({ status: "ok" }));

  for (const path of ["/.well-known/jwks.json", "/api/v1/scopes", "/_keygate/health"]) app.all(path, methodNotAllowed("GET"));

  return app;
}
