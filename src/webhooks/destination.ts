/**
 * Where webhooks may point. In a deployment: https only, and never a host that is or resolves to a
 * private, loopback, link-local or otherwise internal address (no SSRF into the network keygate
 * runs in). Names are resolved with DNS over HTTPS (WEBHOOK_DNS_RESOLVER, JSON API) at registration
 * and again before each delivery, so a name re-pointed to an internal address later is refused then.
 * IPv6 forms that carry an IPv4 address (IPv4-mapped, IPv4-compatible, 6to4, Teredo, NAT64) are
 * judged by what they carry or refused outright. What DNS rebinding between this check and the
 * delivery can still do is in docs/management-security.md.
 * `npm run dev` sets WEBHOOK_ALLOW_INSECURE_LOOPBACK so a local receiver (http://127.0.0.1:...)
 * works out of the box; nothing else on loopback or in private ranges is ever allowed.
 */
import { ApiError } from "../errors";
import { type CidrRange, inRange, parseCidr, parseIp } from "../lib/ip";

export interface DestinationPolicy {
  allowInsecureLoopback: boolean;
  /** DNS-over-HTTPS JSON endpoint, e.g. https://cloudflare-dns.com/dns-query; null: names are not resolved. */
  resolverUrl: string | null;
}

const ranges = (texts: readonly string[]): CidrRange[] => texts.map((text) => (parseCidr(text) as { ok: true; range: CidrRange }).range);

/** IPv4 ranges that are not the public internet (IPv4-mapped IPv6 addresses are checked against these too). */
const INTERNAL_IPV4 = ranges([
  "0.0.0.0/8",
  "10.0.0.0/8",
  "100.64.0.0/10",
  "127.0.0.0/8",
  "169.254.0.0/16",
  "172.16.0.0/12",
  "192.0.0.0/24",
  "192.0.2.0/24",
  "192.88.99.0/24",
  "192.168.0.0/16",
  "198.18.0.0/15",
  "198.51.100.0/24",
  "203.0.113.0/24",
  "224.0.0.0/3",
]);

/**
 * IPv6 ranges refused whatever they hold: not the public internet, or a translation or tunnel
 * form that can carry an IPv4 address (a private one included) past the IPv4 list.
 */
const INTERNAL_IPV6 = ranges([
  // IPv4-compatible (deprecated, RFC 4291 §2.5.5.1), with :: and ::1.
  "::/96",
  // NAT64, well-known and local-use prefixes (RFC 6052, RFC 8215): the gateway's IPv4 network.
  "64:ff9b::/96",
  "64:ff9b:1::/48",
  // Discard-only (RFC 6666).
  "100::/64",
  // Teredo (RFC 4380): server and client IPv4 addresses inside.
  "2001::/32",
  "2001:db8::/32",
  "fc00::/7",
  "fe80::/10",
  // Site-local (deprecated, RFC 3879), still routed by some networks.
  "fec0::/10",
  "ff00::/8",
]);

/** 6to4 (RFC 3056): 2002:AABB:CCDD::/48 carries the IPv4 address AA.BB.CC.DD. */
const SIX_TO_FOUR = ranges(["2002::/16"]);

const LOOPBACK = ranges(["127.0.0.0/8", "::1"]);

/** Whether an address is not on the public internet, directly or through an IPv4 address it embeds. */
export function isInternalAddress(address: Uint8Array): boolean {
  if (isIn(address, INTERNAL_IPV4) || isIn(address, INTERNAL_IPV6)) return true;
  if (isIn(address, SIX_TO_FOUR)) {
    const embedded = Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...address.subarray(2, 6)]);
    return isIn(embedded, INTERNAL_IPV4);
  }
  return false;
}

const INTERNAL_NAMES = /(^|\.)(localhost|local|internal|intranet|lan|home\.arpa)$/i;
const RESOLVE_TIMEOUT_MS = 3_000;

function isIn(address: Uint8Array, ranges: readonly CidrRange[]): boolean {
  return ranges.some((r) => inRange(address, r));
}

function refuse(reason: string): never {
  throw new ApiError("invalid_request", `url ${reason}`);
}

/** IPv4 and IPv6 addresses a name resolves to (A and AAAA), via DNS over HTTPS. */
async function resolve(host: string, resolverUrl: string): Promise<string[]> {
  const addresses: string[] = [];
  for (const type of ["A", "AAAA"]) {
    let answer: { Status?: number; Answer?: { type: number; data: string }[] };
    try {
      const res = await fetch(`${resolverUrl}?name=${encodeURIComponent(host)}&type=${type}`, {
        headers: { accept: "application/dns-json" },
        signal: AbortSignal.timeout(RESOLVE_TIMEOUT_MS),
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      answer = await res.json();
    } catch (err) {
      console.error(`resolving ${host} with ${resolverUrl} failed`, err);
      throw new ApiError("temporarily_unavailable", "The webhook host could not be resolved right now; try again shortly");
    }
    for (const record of answer.Answer ?? []) if (record.type === 1 || record.type === 28) addresses.push(record.data);
  }
  return addresses;
}

/** The URL, or a 400 naming what is wrong with it (a 503 if its name cannot be resolved right now). */
export async function checkDestination(raw: string, policy: DestinationPolicy): Promise<URL> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return refuse("must be an absolute URL");
  }
  if (url.username || url.password) refuse("must not carry credentials");
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  const literal = parseIp(host);
  const loopback = literal ? isIn(literal, LOOPBACK) : /^localhost$/i.test(host);
  if (loopback && policy.allowInsecureLoopback) {
    if (url.protocol !== "http:" && url.protocol !== "https:") refuse("must be http(s)");
    return url;
  }
  if (url.protocol !== "https:") refuse("must be https");
  if (literal) {
    if (isInternalAddress(literal)) refuse(`must not point to a private, loopback or reserved address (${host})`);
    return url;
  }
  if (INTERNAL_NAMES.test(host) || !host.includes(".")) refuse(`must not point to an internal host name (${host})`);
  if (policy.resolverUrl) {
    const addresses = await resolve(host, policy.resolverUrl);
    if (addresses.length === 0) refuse(`host ${host} does not resolve`);
    for (const address of addresses) {
      const parsed = parseIp(address);
      if (!parsed || isInternalAddress(parsed)) refuse(`host ${host} resolves to a private, loopback or reserved address (${address})`);
    }
  }
  return url;
}
