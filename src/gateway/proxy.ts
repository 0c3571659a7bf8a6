/**
 * Forwarding to the origin as a careful reverse proxy: same method, path and query byte for byte,
 * bodies streamed both ways, identity headers that only keygate can set, hop-by-hop headers
 * dropped (RFC 9110 §7.6.1), X-Forwarded-* set, and origin failures mapped to 502/504.
 */
import type { GatewayConfig } from "../config";
import { refusal } from "../errors";
import type { RequestTarget } from "../http/request-target";
import { ASSERTION_HEADER } from "./assertion";

/** Every header keygate sets for the origin starts with this; clients' copies are removed. */
export const IDENTITY_HEADER_PREFIX = "x-keygate-";

export interface Identity {
  keyId: string;
  tenant: string;
  scopes: readonly string[];
  subject: string;
  /** The signed identity assertion (IDENTITY_ASSERTION = "jwt"), sent as X-Keygate-Assertion. */
  assertion?: string;
}

export type ForwardOptions = Pick<GatewayConfig, "origin" | "originTimeoutMs" | "forwardAuthorization">;

/** Header values must be visible ASCII; anything else (a unicode `sub`) is percent-encoded. */
function headerSafe(value: string): string {
  return /^[\x20-\x7e]*$/.test(value) ? value : encodeURIComponent(value);
}

// RFC 9110 §7.6.1 and the historical hop-by-hop set (RFC 2616 §13.5.1). `connection` and
// `upgrade` are handled separately below.
const HOP_BY_HOP = ["keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "proxy-authenticate", "proxy-authorization"];

/** RFC 9110 §5.1 field-name (token); anything else in Connection is ignored, not a crash. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * The origin's request headers: the client's, less hop-by-hop headers (and any the client named in
 * Connection) and every X-Keygate-* header, plus keygate's identity and X-Forwarded-* headers.
 * Copy-then-delete measured cheaper in workerd than rebuilding the set in one JS pass.
 */
function upstreamHeaders(request: Request, target: RequestTarget, options: ForwardOptions, identity: Identity | null): Headers {
  const headers = new Headers(request.headers);
  const connection = headers.get("connection");
  if (connection !== null) {
    for (const raw of connection.split(",")) {
      const name = raw.trim();
      if (HEADER_NAME.test(name)) headers.delete(name);
    }
    headers.delete("connection");
  }
  const upgrade = headers.get("upgrade");
  // A WebSocket handshake is forwarded as one; the runtime manages the upgraded connection.
  if (upgrade !== null && upgrade.toLowerCase() !== "websocket") headers.delete("upgrade");
  for (const name of HOP_BY_HOP) headers.delete(name);
  const spoofed: string[] = [];
  for (const name of headers.keys()) if (name.startsWith(IDENTITY_HEADER_PREFIX)) spoofed.push(name);
  for (const name of spoofed) headers.delete(name);
  headers.delete("host");
  if (!options.forwardAuthorization) headers.delete("authorization");

  const clientIp = headers.get("cf-connecting-ip");
  if (clientIp !== null) {
    const prior = headers.get("x-forwarded-for");
    headers.set("x-forwarded-for", prior ? `${prior}, ${clientIp}` : clientIp);
  }
  headers.set("x-forwarded-proto", target.scheme);
  headers.set("x-forwarded-host", target.host);

  if (identity) {
    headers.set("x-keygate-key-id", identity.keyId);
    headers.set("x-keygate-tenant", identity.tenant);
    headers.set("x-keygate-scopes", identity.scopes.join(" "));
    headers.set("x-keygate-subject", headerSafe(identity.subject));
    if (identity.assertion !== undefined) headers.set(ASSERTION_HEADER, identity.assertion);
  }
  return headers;
}

/** Responses keygate made itself because the origin failed it (not the origin's own 502s). */
const originFailures = new WeakMap<Response, "bad_gateway" | "gateway_timeout">();

/** Whether `response` is keygate's 502/504 for an origin that failed, and which. */
export function originFailure(response: Response): "bad_gateway" | "gateway_timeout" | undefined {
  return originFailures.get(response);
}

function failed(kind: "bad_gateway" | "gateway_timeout", response: Response): Response {
  originFailures.set(response, kind);
  return response;
}

/** Forwards `request` to the origin and returns the origin's response untouched. */
export async function forward(
  request: Request,
  target: RequestTarget,
  options: ForwardOptions,
  identity: Identity | null,
): Promise<Response> {
  const method = request.method;
  const controller = new AbortController();
  // The timeout covers the wait for the origin's response headers, not the streaming body.
  const timer = setTimeout(() => controller.abort(), options.originTimeoutMs);
  try {
    return await fetch(options.origin + target.pathAndQuery, {
      method,
      headers: upstreamHeaders(request, target, options, identity),
      body: method === "GET" || method === "HEAD" ? null : request.body,
      redirect: "manual",
      signal: controller.signal,
    });
  } catch (err) {
    if (controller.signal.aborted) {
      return failed("gateway_timeout", refusal("gateway_timeout", `The origin did not respond within ${options.originTimeoutMs} ms`));
    }
    console.error(`origin request to ${options.origin} failed`, err);
    return failed("bad_gateway", refusal("bad_gateway", "The origin could not be reached"));
  } finally {
    clearTimeout(timer);
  }
}

/** The origin's response with `fields` added (a fetched response's headers are immutable). */
export function withHeaders(response: Response, fields: Record<string, string>): Response {
  // A WebSocket upgrade (101) carries its socket in the response object: pass it through untouched.
  if (response.status === 101) return response;
  const headers = new Headers(response.headers);
  for (const [name, value] of Object.entries(fields)) headers.set(name, value);
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}
