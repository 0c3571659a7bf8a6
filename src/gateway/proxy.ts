/**
 * Forwarding to the origin as a careful reverse proxy: same method, the path the route policy
 * judged (src/gateway/path-contract.ts) and the query byte for byte, bodies streamed both ways,
 * identity and client-address headers that only keygate can set (src/gateway/origin-headers.ts),
 * method overrides and hop-by-hop headers dropped (RFC 9110 §7.6.1), and origin failures mapped
 * to 502/504.
 */

import { refusal } from "../errors";
import type { RequestTarget } from "../http/request-target";
import {
  ASSERTION_HEADER,
  CLIENT_IP_HEADER,
  type Identity,
  KEY_ID_HEADER,
  META_HEADER,
  SCOPES_HEADER,
  SUBJECT_HEADER,
  TENANT_HEADER,
} from "../vocab/headers.mjs";
import type { GatewayConfig } from "./config";
import { isReservedHeader, RUNTIME_CLIENT_IP_HEADER } from "./origin-headers";

export type ForwardOptions = Pick<GatewayConfig, "origin" | "originTimeoutMs" | "forwardAuthorization">;

/** Header values must be visible ASCII; anything else (a unicode `sub`) is percent-encoded. */
function headerSafe(value: string): string {
  return /^[\x20-\x7e]*$/.test(value) ? value : encodeURIComponent(value);
}

// RFC 9110 §7.6.1 and the historical hop-by-hop set (RFC 2616 §13.5.1). `connection` and
// `upgrade` are handled separately below.
const HOP_BY_HOP: ReadonlySet<string> = new Set([
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "proxy-authenticate",
  "proxy-authorization",
]);

/** RFC 9110 §5.1 field-name (token); anything else in Connection is ignored, not a crash. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** The identity headers of a key, computed once per verified claims object (cached per token). */
const identityHeaderCache = new WeakMap<Identity, [string, string][]>();

function identityHeaders(identity: Identity): [string, string][] {
  let headers = identityHeaderCache.get(identity);
  if (headers === undefined) {
    headers = [
      [KEY_ID_HEADER, identity.keyId],
      [TENANT_HEADER, identity.tenant],
      [SCOPES_HEADER, identity.scopes.join(" ")],
      [SUBJECT_HEADER, headerSafe(identity.sub)],
    ];
    identityHeaderCache.set(identity, headers);
  }
  return headers;
}

/**
 * The origin's request headers: the client's, less hop-by-hop headers (and any the client named in
 * Connection) and every reserved header (X-Keygate-*, client addresses, method overrides, in any
 * spelling), plus keygate's identity, X-Keygate-Client-IP and X-Forwarded-* headers.
 * One copy and one pass over it: each Headers call crosses into the runtime, so deletes happen only
 * for headers that are there (usually just Host and CF-Connecting-IP), and values are read in the same pass.
 */
function upstreamHeaders(
  request: Request,
  target: RequestTarget,
  options: ForwardOptions,
  identity: Identity | null,
  assertion: string | undefined,
  meta: string | undefined,
): Headers {
  const headers = new Headers(request.headers);
  let drop: string[] | undefined;
  let clientIp: string | null = null;
  let websocket = false;
  for (const [name, value] of headers) {
    if (name === "host" || HOP_BY_HOP.has(name)) drop = appended(drop, name);
    else if (isReservedHeader(name)) {
      drop = appended(drop, name);
      if (name === RUNTIME_CLIENT_IP_HEADER) clientIp = value;
    } else if (name === "authorization" && !options.forwardAuthorization) drop = appended(drop, name);
    else if (name === "upgrade") {
      // A WebSocket handshake is forwarded as one; the runtime manages the upgraded connection.
      if (value.toLowerCase() === "websocket") websocket = true;
      else drop = appended(drop, name);
    } else if (name === "connection") {
      drop = appended(drop, name);
      for (const raw of value.split(",")) {
        const named = raw.trim().toLowerCase();
        if (HEADER_NAME.test(named)) drop.push(named);
      }
    }
  }
  if (drop !== undefined) for (const name of drop) if (!(websocket && name === "upgrade")) headers.delete(name);

  // keygate is the edge: what a client says about hops before it is not evidence, so the chain
  // starts here. The address is the runtime's (on Cloudflare the connecting client's).
  if (clientIp !== null) {
    headers.set(CLIENT_IP_HEADER, clientIp);
    headers.set("x-forwarded-for", clientIp);
  }
  headers.set("x-forwarded-proto", target.scheme);
  headers.set("x-forwarded-host", target.host);

  if (identity) {
    for (const [name, value] of identityHeaders(identity)) headers.set(name, value);
    if (assertion !== undefined) headers.set(ASSERTION_HEADER, assertion);
    if (meta !== undefined) headers.set(META_HEADER, meta);
  }
  return headers;
}

/** `list` with `item` added, allocating the list only when there is something to put in it. */
function appended(list: string[] | undefined, item: string): string[] {
  if (list === undefined) return [item];
  list.push(item);
  return list;
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

const TIMED_OUT = Symbol("timed out");

/** Forwards `request` to the origin and returns the origin's response untouched. */
export async function forward(
  request: Request,
  target: RequestTarget,
  /** The path the route policy judged (path-contract.ts): the raw path, or its normalized form. */
  path: string,
  options: ForwardOptions,
  identity: Identity | null,
  /** The signed identity assertion (IDENTITY_ASSERTION = "jwt"), sent as X-Keygate-Assertion. */
  assertion?: string,
  /** The key's metadata header (FORWARD_KEY_META), sent as X-Keygate-Meta. */
  meta?: string,
): Promise<Response> {
  const method = request.method;
  const pathAndQuery = path === target.path ? target.pathAndQuery : path + target.pathAndQuery.slice(target.path.length);
  const origin = fetch(options.origin + pathAndQuery, {
    method,
    headers: upstreamHeaders(request, target, options, identity, assertion, meta),
    body: method === "GET" || method === "HEAD" ? null : request.body,
    redirect: "manual",
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), options.originTimeoutMs);
  });
  try {
    const response = await Promise.race([origin, timeout]);
    if (response !== TIMED_OUT) return response;
    origin.catch(() => {}); // answered too late: nobody reads it
    return failed("gateway_timeout", refusal("gateway_timeout", `The origin did not respond within ${options.originTimeoutMs} ms`));
  } catch (err) {
    console.error(`origin request to ${options.origin} failed`, err);
    return failed("bad_gateway", refusal("bad_gateway", "The origin could not be reached"));
  } finally {
    clearTimeout(timer);
  }
}

/** The origin's response with `fields` added (a fetched response's headers are immutable). */
export function withHeaders(response: Response, fields: ReadonlyArray<readonly [string, string]>): Response {
  // A WebSocket upgrade (101) carries its socket in the response object: pass it through untouched.
  if (response.status === 101) return response;
  // Initialised from the response itself: status, status text and one native copy of its headers.
  const copy = new Response(response.body, response);
  for (const [name, value] of fields) copy.headers.set(name, value);
  return copy;
}
