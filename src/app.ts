/**
 * The control plane as a Hono app, built from the route table (src/routes/table.ts): one handler
 * per route, a 405 with `Allow` for the other methods of each path, one error handler. The data
 * plane (every path the table does not name) does not go through Hono; see src/index.ts.
 */
import { Hono } from "hono";
import { scopeCatalog } from "./config/keys";
import type { Env } from "./env";
import { ApiError, toErrorResponse } from "./errors";
import { honoPath, pathMatcher } from "./http/path-templates";
import { queryInput } from "./http/query";
import { decodeBody, readBodyBytes } from "./http/request-body";
import { methodNotAllowed } from "./http/responses";
import { parseOrRefuse, refuseBadInput } from "./http/validate";
import { verifyGitHubSignature } from "./leaks/github-signature";
import { introspecting, managed } from "./routes/management";
import type { AppContext, Route } from "./routes/spec";
import { ROUTES } from "./routes/table";

const CONTROL_PLANE_PATH = pathMatcher(ROUTES.map((r) => r.path));
/** First path segments of the control plane ("/api/", ...): a cheap test before the regex. */
const CONTROL_PLANE_PREFIXES = [...new Set(ROUTES.map((r) => r.path.slice(0, r.path.indexOf("/", 1) + 1)))];

/** Whether the route table owns `pathname`; everything else is proxied to the origin. */
export function isControlPlanePath(pathname: string): boolean {
  // This runs on every data-plane request.
  for (const prefix of CONTROL_PLANE_PREFIXES) if (pathname.startsWith(prefix)) return CONTROL_PLANE_PATH.test(pathname);
  return false;
}

/**
 * Query and body of a request, parsed by the route's schemas (a 400/413/415 naming the problem
 * otherwise). `bytes`: the body, when the credential check had to read it first.
 */
async function parseInput(route: Route, c: AppContext, bytes?: Uint8Array) {
  const url = new URL(c.req.url);
  let query: unknown;
  if (route.query) {
    const input = queryInput(route.query, url.searchParams);
    refuseBadInput(input);
    query = parseOrRefuse(route.query, input);
  }
  let body: unknown;
  if (route.body) {
    const raw = decodeBody(bytes ?? (await readBodyBytes(c.req.raw, route.body.maxBytes)), c.req.header("content-type") ?? null, {
      optional: !route.body.required,
      mediaTypes: route.body.mediaTypes,
    });
    // GitHub's batches are not refused for a finding's odd text: its live keys must still be revoked.
    refuseBadInput(raw, { controlChars: route.credential !== "github-signature" });
    body = raw === undefined ? undefined : parseOrRefuse(route.body.schema(scopeCatalog(c.env)), raw);
  }
  return { c, env: c.env, url, query, body };
}

/** The route's handler behind the check its credential kind calls for (src/routes/spec.ts). */
function handlerFor(route: Route) {
  switch (route.credential) {
    case "none":
      return async (c: AppContext) => route.handle(await parseInput(route, c));
    case "management":
      return managed(route, async (c, ctx, keyId) => route.handle({ ...(await parseInput(route, c)), ctx, keyId }));
    case "introspection":
      return introspecting(async (c, caller, now) => route.handle({ ...(await parseInput(route, c)), caller, now }));
    case "github-signature":
      // The signature covers the raw bytes: verified before anything parses them.
      return async (c: AppContext) => {
        const bytes = await readBodyBytes(c.req.raw, route.body?.maxBytes);
        await verifyGitHubSignature(c.env, c.req.raw.headers, bytes);
        return route.handle(await parseInput(route, c, bytes));
      };
  }
}

export function createApp() {
  const app = new Hono<{ Bindings: Env }>({ strict: false });
  // Grouped by path in table order, each path's 405 right after its methods: a literal path such as
  // ".../api-keys/create" must answer 405 to GET before ".../api-keys/{id}" can claim it.
  const byPath = new Map<string, Route[]>();
  for (const route of ROUTES) byPath.set(route.path, [...(byPath.get(route.path) ?? []), route]);
  for (const [path, routes] of byPath) {
    for (const route of routes) app.on(route.method, honoPath(path), handlerFor(route));
    const hint = routes.find((r) => r.methodHint)?.methodHint;
    app.all(honoPath(path), methodNotAllowed(routes.map((r) => r.method).join(", "), hint));
  }
  app.notFound(() => toErrorResponse(new ApiError("not_found", "No such management endpoint")));
  app.onError((err) => toErrorResponse(err));
  return app;
}
