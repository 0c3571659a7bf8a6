/**
 * The web console under /console: its static files (Workers static assets, binding ASSETS), the
 * single-page app's fallback for its own routes, and /console/config.json for sign-in. Every
 * response carries the same security headers. wrangler.toml runs the worker first for every
 * path, so the assets directory can never shadow a path of the origin.
 */
import type { Env } from "../env";
import { ApiError, toErrorResponse } from "../errors";
import { jsonResponse } from "../http/responses";
import { consoleClientConfig, tokenEndpointOrigin } from "./config";

export const CONSOLE_PREFIX = "/console";
/** Vite's hashed bundle files: their names change with their content. */
const ASSETS_PREFIX = "/console/assets/";
const IMMUTABLE_MAX_AGE_SECONDS = 365 * 86_400;
/**
 * The API reference page among the console's files, api-docs.html (served at /api/v1/docs by the
 * route table). Workers static assets serve an HTML file at its name without ".html".
 */
const API_REFERENCE_FILE = `${CONSOLE_PREFIX}/api-docs`;

/** Cheap: this runs on every request before the gateway. */
export function isConsolePath(path: string): boolean {
  return path.startsWith(CONSOLE_PREFIX) && (path.length === CONSOLE_PREFIX.length || path.charCodeAt(CONSOLE_PREFIX.length) === 47);
}

/**
 * Content-Security-Policy of every console response: scripts, styles and fetches from the
 * console's own origin only (no inline script, no eval), plus the identity provider's token
 * endpoint for the sign-in's code exchange; never framed (clickjacking), no <base>, no forms.
 */
export function consoleCsp(connectOrigin: string | null): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    `connect-src 'self'${connectOrigin ? ` ${connectOrigin}` : ""}`,
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

function withSecurityHeaders(response: Response, connectOrigin: string | null, cacheControl?: string): Response {
  const secured = new Response(response.body, response);
  const h = secured.headers;
  h.set("content-security-policy", consoleCsp(connectOrigin));
  h.set("x-content-type-options", "nosniff");
  h.set("referrer-policy", "no-referrer");
  // For browsers without CSP frame-ancestors.
  h.set("x-frame-options", "DENY");
  h.set("cross-origin-opener-policy", "same-origin");
  h.set("cross-origin-resource-policy", "same-origin");
  h.set("permissions-policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()");
  if (cacheControl) h.set("cache-control", cacheControl);
  return secured;
}

function assets(env: Env): Fetcher {
  if (!env.ASSETS) throw new ApiError("not_found", "The console is not part of this deployment (no [assets] binding ASSETS)");
  return env.ASSETS;
}

async function route(request: Request, env: Env, path: string): Promise<Response> {
  if (request.method !== "GET" && request.method !== "HEAD") {
    throw new ApiError("method_not_allowed", "The console only serves GET and HEAD", { headers: { allow: "GET, HEAD" } });
  }
  if (path === CONSOLE_PREFIX) {
    return new Response(null, { status: 308, headers: { location: `${CONSOLE_PREFIX}/` } });
  }
  if (path === `${CONSOLE_PREFIX}/config.json`) return jsonResponse(await consoleClientConfig(env));

  const lastSegment = path.slice(path.lastIndexOf("/") + 1);
  if (path.startsWith(ASSETS_PREFIX) || lastSegment.includes(".")) {
    // A file: served as is, or a 404 (never the app's HTML in place of a missing script).
    const res = await assets(env).fetch(request);
    if (res.status === 404) throw new ApiError("not_found", "No such console file");
    const immutable = path.startsWith(ASSETS_PREFIX) && res.ok;
    return withSecurityHeaders(res, null, immutable ? `public, max-age=${IMMUTABLE_MAX_AGE_SECONDS}, immutable` : undefined);
  }
  // Any other path under /console/ is a route of the single-page app: its HTML, never cached.
  const html = await assets(env).fetch(new Request(new URL(`${CONSOLE_PREFIX}/`, request.url), { method: request.method }));
  if (!html.ok) throw new ApiError("not_found", "The console has not been built (npm run build:console)");
  return withSecurityHeaders(html, await tokenEndpointOrigin(env), "no-cache");
}

/** The API reference page (console/api-docs.html, built with the console), with the console's security headers. */
export async function serveApiReference(request: Request, env: Env): Promise<Response> {
  const html = await assets(env).fetch(new Request(new URL(API_REFERENCE_FILE, request.url), { method: request.method }));
  if (!html.ok) throw new ApiError("not_found", "The API reference has not been built (npm run build:console)");
  return withSecurityHeaders(html, null, "no-cache");
}

export async function serveConsole(request: Request, env: Env, path: string): Promise<Response> {
  let response: Response;
  try {
    response = await route(request, env, path);
  } catch (err) {
    response = toErrorResponse(err);
  }
  return response.headers.has("content-security-policy") ? response : withSecurityHeaders(response, null);
}
