/**
 * Forwarding to the origin as a careful reverse proxy: same method, path and query byte for byte,
 * bodies streamed both ways, identity headers that only keygate can set, hop-by-hop headers
 * dropped (RFC 9110 §7.6.1), X-Forwarded-* set, and origin failures mapped to 502/504.
 */
import { ApiError } from "../errors";

/** Every header keygate sets for the origin starts with this; clients' copies are removed. */
export const IDENTITY_HEADER_PREFIX = "x-keygate-";

export interface Identity {
  keyId: string;
  tenant: string;
  scopes: readonly string[];
  subject: string;
}

// RFC 9110 §7.6.1 and the historical hop-by-hop set (RFC 2616 §13.5.1).
const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "proxy-authenticate",
  "proxy-authorization",
];

/** Header values must be visible ASCII; anything else (a unicode `sub`) is percent-encoded. */
function headerSafe(value: string): string {
  return /^[\x20-\x7e]*$/.test(value) ? value : encodeURIComponent(value);
}

/** The path and query of `url` exactly as received (no re-serialization). */
function pathAndQuery(url: string): string {
  const afterScheme = url.indexOf("//") + 2;
  const pathStart = url.indexOf("/", afterScheme);
  if (pathStart === -1) return "/";
  const hash = url.indexOf("#", pathStart);
  return hash === -1 ? url.slice(pathStart) : url.slice(pathStart, hash);
}

export interface ForwardOptions {
  origin: string;
  timeoutMs: number;
  forwardAuthorization: boolean;
  identity: Identity | null;
}

function upstreamHeaders(request: Request, url: URL, options: ForwardOptions): Headers {
  const headers = new Headers(request.headers);
  const isWebSocket = headers.get("upgrade")?.toLowerCase() === "websocket";
  // Headers named in Connection are hop-by-hop too.
  const listed =
    headers
      .get("connection")
      ?.split(",")
      .map((h) => h.trim().toLowerCase()) ?? [];
  for (const name of [...HOP_BY_HOP, ...listed]) headers.delete(name);
  // A WebSocket handshake is forwarded as one; the runtime manages the upgraded connection.
  if (isWebSocket) headers.set("upgrade", "websocket");
  const spoofed: string[] = [];
  for (const name of headers.keys()) if (name.startsWith(IDENTITY_HEADER_PREFIX)) spoofed.push(name);
  for (const name of spoofed) headers.delete(name);
  headers.delete("host");
  if (!options.forwardAuthorization) headers.delete("authorization");

  const clientIp = request.headers.get("cf-connecting-ip");
  if (clientIp) {
    const prior = request.headers.get("x-forwarded-for");
    headers.set("x-forwarded-for", prior ? `${prior}, ${clientIp}` : clientIp);
  }
  headers.set("x-forwarded-proto", url.protocol.slice(0, -1));
  headers.set("x-forwarded-host", url.host);

  const id = options.identity;
  if (id) {
    headers.set("x-keygate-key-id", id.keyId);
    headers.set("x-keygate-tenant", id.tenant);
    headers.set("x-keygate-scopes", id.scopes.join(" "));
    headers.set("x-keygate-subject", headerSafe(id.subject));
  }
  return headers;
}

/** Forwards `request` to the origin and returns the origin's response untouched. */
export async function forward(request: Request, url: URL, options: ForwardOptions): Promise<Response> {
  const target = options.origin + pathAndQuery(request.url);
  const hasBody = request.method !== "GET" && request.method !== "HEAD";
  const controller = new AbortController();
  // The timeout covers the wait for the origin's response headers, not the streaming body.
  const timer = setTimeout(() => controller.abort(), options.timeoutMs);
  try {
    return await fetch(target, {
      method: request.method,
      headers: upstreamHeaders(request, url, options),
      body: hasBody ? request.body : null,
      redirect: "manual",
      signal: controller.signal,
    });
  } catch (err) {
    if (controller.signal.aborted) {
      throw new ApiError("gateway_timeout", `The origin did not respond within ${options.timeoutMs} ms`);
    }
    console.error(`origin request to ${options.origin} failed`, err);
    throw new ApiError("bad_gateway", "The origin could not be reached");
  } finally {
    clearTimeout(timer);
  }
}
