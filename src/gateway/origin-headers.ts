/**
 * The headers the origin may trust, by name: the only place they are spelled. keygate sets them
 * and removes every client copy first, in any spelling an origin might read as the same header
 * (letter case, or "_" for "-": CGI/WSGI servers such as Python's wsgiref map both to HTTP_X_...).
 * The identity header names themselves are src/vocab/headers.mjs; this module says which client
 * headers never reach the origin.
 */

import { IDENTITY_HEADER_PREFIX } from "../vocab/headers.mjs";

/** Where the runtime puts the client's address (Cloudflare sets it; `wrangler dev` believes the client's). */
export const RUNTIME_CLIENT_IP_HEADER = "cf-connecting-ip";

/**
 * Client-address headers a client may send to pass for someone else. keygate removes them all;
 * X-Forwarded-For is then set to the client's address alone (X-Forwarded-Proto and -Host are set too).
 */
export const CLIENT_ADDRESS_HEADERS: ReadonlySet<string> = new Set([
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-forwarded-host",
  "x-forwarded-port",
  "x-forwarded-prefix",
  "forwarded",
  "x-real-ip",
  "true-client-ip",
  "x-client-ip",
  "x-cluster-client-ip",
  // PHP's HTTP_CLIENT_IP (which many "real IP" snippets read first), and other vendors' spellings.
  "client-ip",
  "x-originating-ip",
  "x-remote-ip",
  "x-remote-addr",
  "fastly-client-ip",
  "cf-connecting-ipv6",
  RUNTIME_CLIENT_IP_HEADER,
]);

/**
 * Method overrides (Express's method-override, Rails, Symfony, ASP.NET): an origin honouring one
 * would run a method the route policy did not judge, so they never reach it.
 */
export const METHOD_OVERRIDE_HEADERS: ReadonlySet<string> = new Set(["x-http-method-override", "x-http-method", "x-method-override"]);

/**
 * Whether a client's header named `name` (lower-case, as Headers iterates) must not reach the
 * origin: an identity header, a client-address header or a method override, in any spelling.
 */
export function isReservedHeader(name: string): boolean {
  const canonical = name.includes("_") ? name.replace(/_/g, "-") : name;
  return canonical.startsWith(IDENTITY_HEADER_PREFIX) || CLIENT_ADDRESS_HEADERS.has(canonical) || METHOD_OVERRIDE_HEADERS.has(canonical);
}
