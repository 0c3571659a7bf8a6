/**
 * The route table: every control-plane endpoint, declared once. The Hono app (src/app.ts), the
 * control-plane path matcher (what is not in here is the gateway's) and the OpenAPI document all
 * derive from this list.
 */
import * as z from "zod/mini";
import { managementScopesFor } from "../auth/principal";
import { keyConfig, scopeCatalog } from "../config/keys";
import { perEnv } from "../config/read";
import { serveApiReference } from "../console-host/serve";
import { jsonResponse } from "../http/responses";
import { buildOpenApiDocument } from "../openapi/document";
import { alertRoutes } from "./alerts";
import { auditRoutes } from "./audit";
import { governanceRoutes } from "./governance";
import { introspectionRoutes } from "./introspect";
import { keyRoutes } from "./keys";
import { leakRoutes } from "./leaks";
import { publicRoutes } from "./public";
import { quotaRoutes } from "./quotas";
import { publicRoute, type Route } from "./spec";
import { usageRoutes } from "./usage";
import { webhookRoutes } from "./webhooks";

const OPENAPI_MAX_AGE_SECONDS = 300;

/** The OpenAPI document for this deployment (its catalog and URL), built once per isolate. */
export const openApiDocument = perEnv((env): Record<string, unknown> => {
  const serverUrl = keyConfig(env).issuer;
  return buildOpenApiDocument(ROUTES, {
    serverUrl,
    contactUrl: `${serverUrl}${apiReferenceRoute.path}`,
    catalog: scopeCatalog(env),
    roles: { scopesFor: managementScopesFor },
  });
});

const openApiRoute = publicRoute({
  method: "GET",
  path: "/api/v1/openapi.json",
  operationId: "getOpenApiDocument",
  summary: "This document (OpenAPI 3.1)",
  description: `Generated from the route table, for this deployment's scope catalog and URL. Cacheable for ${OPENAPI_MAX_AGE_SECONDS} s.`,
  tag: "Public",
  credential: "none",
  role: "public",
  responses: { 200: { description: "The OpenAPI document of the control plane.", schema: z.looseObject({ openapi: z.string() }) } },
  handle({ env }) {
    return jsonResponse(openApiDocument(env), 200, { "cache-control": `public, max-age=${OPENAPI_MAX_AGE_SECONDS}` });
  },
});

const apiReferenceRoute = publicRoute({
  method: "GET",
  path: "/api/v1/docs",
  operationId: "getApiReference",
  summary: "This document, rendered for people (Swagger UI)",
  description:
    "An HTML page that renders GET /api/v1/openapi.json in the browser. Its files are the console's static assets, served under the console's Content-Security-Policy.",
  tag: "Public",
  credential: "none",
  role: "public",
  // The deployment has no [assets] binding, or the console was not built.
  errors: ["not_found"],
  responses: { 200: { description: "The API reference page.", mediaType: "text/html", schema: z.string() } },
  handle({ c, env }) {
    return serveApiReference(c.req.raw, env);
  },
});

export const ROUTES: readonly Route[] = [
  ...publicRoutes,
  openApiRoute,
  apiReferenceRoute,
  ...keyRoutes,
  ...quotaRoutes,
  ...auditRoutes,
  ...usageRoutes,
  ...governanceRoutes,
  ...alertRoutes,
  ...webhookRoutes,
  ...leakRoutes,
  ...introspectionRoutes,
];
