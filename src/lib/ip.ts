/**
 * IPv4 and IPv6 addresses and CIDR ranges, for per-key allowlists. Addresses are 16-byte arrays
 * (IPv4 as IPv4-mapped IPv6, RFC 4291 §2.5.5.2), so one prefix comparison serves both families and
 * a client seen as `::ffff:203.0.113.7` matches `203.0.113.0/24`.
 */

export interface CidrRange {
  /** The network address, 16 bytes. */
  bytes: Uint8Array;
  /** Prefix length in bits over the 16 bytes (an IPv4 /24 is 96 + 24). */
  bits: number;
  /** The canonical text: "203.0.113.0/24", "2001:db8::/32", or a bare address. */
  text: string;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const V4_MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

function parseIpv4(text: string): number[] | null {
  const m = IPV4.exec(text);
  if (!m) return null;
  const parts = m.slice(1).map((p) => (p.length > 1 && p.startsWith("0") ? Number.NaN : Number(p)));
  return parts.every((p) => p >= 0 && p <= 255) ? parts : null;
}

function parseIpv6(input: string): number[] | null {
  if (input.includes("%")) return null; // zone ids never reach us from a client address
  let text = input;
  // A trailing dotted quad ("::ffff:192.0.2.1") is the last two 16-bit words.
  const lastColon = text.lastIndexOf(":");
  if (text.indexOf(".", lastColon) !== -1) {
    const v4 = parseIpv4(text.slice(lastColon + 1));
    if (!v4) return null;
    text = `${text.slice(0, lastColon + 1)}${((v4[0] as number) * 256 + (v4[1] as number)).toString(16)}:${((v4[2] as number) * 256 + (v4[3] as number)).toString(16)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groups = (s: string) => (s === "" ? [] : s.split(":"));
  const left = groups(halves[0] ?? "");
  const right = halves.length === 2 ? groups(halves[1] ?? "") : [];
  const missing = 8 - left.length - right.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const bytes: number[] = [];
  for (const word of [...left, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...right]) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(word)) return null;
    const v = Number.parseInt(word, 16);
    bytes.push(v >> 8, v & 0xff);
  }
  return bytes;
}

/** 16 bytes for an IPv4 or IPv6 address, or null if `text` is not one. */
export function parseIp(text: string): Uint8Array | null {
  const v4 = parseIpv4(text);
  if (v4) return Uint8Array.from([...V4_MAPPED_PREFIX, ...v4]);
  const v6 = text.includes(":") ? parseIpv6(text) : null;
  return v6 && v6.length === 16 ? Uint8Array.from(v6) : null;
}

export function isV4Mapped(bytes: Uint8Array): boolean {
  return V4_MAPPED_PREFIX.every((b, i) => bytes[i] === b);
}

/** The canonical text of a 16-byte address: dotted quad for IPv4(-mapped), RFC 5952 for IPv6. */
export function formatIp(bytes: Uint8Array): string {
  if (isV4Mapped(bytes)) return [...bytes.subarray(12)].join(".");
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((bytes[i] as number) << 8) | (bytes[i + 1] as number));
  // RFC 5952: the longest run of two or more zero words becomes "::".
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  const hex = words.map((w) => w.toString(16));
  if (best === -1) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

function hasHostBits(bytes: Uint8Array, bits: number): boolean {
  for (let bit = bits; bit < 128; bit++) if (((bytes[bit >> 3] as number) >> (7 - (bit & 7))) & 1) return true;
  return false;
}

export type CidrParse = { ok: true; range: CidrRange } | { ok: false; reason: string };

/** An address or CIDR range ("203.0.113.0/24", "2001:db8::/32", "198.51.100.7"), canonicalized. */
export function parseCidr(input: string): CidrParse {
  const text = input.trim();
  const slash = text.indexOf("/");
  const address = slash === -1 ? text : text.slice(0, slash);
  const bytes = parseIp(address);
  if (!bytes) return { ok: false, reason: "is not an IPv4 or IPv6 address or CIDR range" };
  const v4 = isV4Mapped(bytes) && parseIpv4(address) !== null;
  const maxPrefix = v4 ? 32 : 128;
  let prefix = maxPrefix;
  if (slash !== -1) {
    const raw = text.slice(slash + 1);
    prefix = /^\d{1,3}$/.test(raw) ? Number(raw) : Number.NaN;
    if (!(prefix >= 0 && prefix <= maxPrefix)) return { ok: false, reason: `has a prefix length outside 0-${maxPrefix}` };
  }
  const bits = v4 ? 96 + prefix : prefix;
  if (hasHostBits(bytes, bits)) {
    const network = Uint8Array.from(bytes);
    for (let bit = bits; bit < 128; bit++) network[bit >> 3] = (network[bit >> 3] as number) & ~(1 << (7 - (bit & 7)));
    return { ok: false, reason: `has host bits set; did you mean ${rangeText(network, bits)}?` };
  }
  return { ok: true, range: { bytes, bits, text: rangeText(bytes, bits) } };
}

/**
 * A range as text that parseCidr reads back as the same range: an IPv4-mapped range in IPv4 form
 * ("::ffff:1.2.3.0/120" is "1.2.3.0/24"; formatIp writes a mapped address as IPv4, so an IPv6
 * prefix length beside it would not parse), any other in IPv6 form; no "/bits" for one address.
 */
function rangeText(bytes: Uint8Array, bits: number): string {
  const address = formatIp(bytes);
  if (bits === 128) return address;
  // A mapped range with fewer than 96 bits has host bits in ffff, so it never gets here.
  return isV4Mapped(bytes) && bits >= 96 ? `${address}/${bits - 96}` : `${address}/${bits}`;
}

/** Whether `address` (16 bytes) lies in `range`. */
export function inRange(address: Uint8Array, range: CidrRange): boolean {
  const whole = range.bits >> 3;
  for (let i = 0; i < whole; i++) if (address[i] !== range.bytes[i]) return false;
  const rest = range.bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((address[whole] as number) & mask) === ((range.bytes[whole] as number) & mask);
}

/** Whether a client address (as text, e.g. CF-Connecting-IP) lies in any entry of an allowlist. */
export function allowlistAdmits(allowlist: readonly (string | CidrRange)[], clientIp: string | null): boolean {
  const address = clientIp === null ? null : parseIp(clientIp);
  if (address === null) return false;
  for (const entry of allowlist) {
    const range = typeof entry === "string" ? (parseCidr(entry) as { ok: true; range: CidrRange }).range : entry;
    if (range && inRange(address, range)) return true;
  }
  return false;
}

/** Whether every address of `inner` lies in `outer` (a range contains itself). */
export function rangeContains(outer: CidrRange, inner: CidrRange): boolean {
  return inner.bits >= outer.bits && inRange(inner.bytes, outer);
}

/** Bits of an IPv6 client address that name its network: one customer's /64 (RFC 6177 §2: a site gets at least a /64). */
export const IPV6_CLIENT_PREFIX_BITS = 64;

/**
 * Who a client is, for brute-force throttling: an IPv4 address as itself (also when written
 * IPv4-mapped, `::ffff:203.0.113.7`), an IPv6 address by its /64, since one host holds a whole /64
 * and can change addresses within it freely ("2001:db8:1:2::/64"). Text that is not an address is
 * returned as is.
 */
export function clientNetwork(ip: string): string {
  // The hot path (every gateway request): an IPv4 address as Cloudflare writes it is already canonical.
  if (!ip.includes(":")) return ip;
  const bytes = parseIp(ip);
  if (bytes === null) return ip;
  if (isV4Mapped(bytes)) return formatIp(bytes);
  const network = Uint8Array.from(bytes);
  network.fill(0, IPV6_CLIENT_PREFIX_BITS / 8);
  return `${formatIp(network)}/${IPV6_CLIENT_PREFIX_BITS}`;
}
