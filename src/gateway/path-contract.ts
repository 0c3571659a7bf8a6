/**
 * The path contract: the one decision about a request path, made before the route policy and
 * before any key work. The route policy judges exactly the path the origin receives (DESIGN.md,
 * invariant 9), so a path whose meaning may differ between keygate and an origin framework is
 * refused (PATH_NORMALIZATION = "reject", the default) or, where RFC 3986 defines one meaning,
 * normalized and forwarded as normalized ("normalize"). Envoy's CVE-2019-9901 and Istio's
 * CVE-2021-31920 were a policy judging a decoded path while the raw one was forwarded.
 *
 * | input                                   | reject  | normalize                         |
 * |-----------------------------------------|---------|-----------------------------------|
 * | %2F %5C (encoded separators), raw \     | 400     | 400                               |
 * | %25 before two hex digits or escapes    | 400     | 400                               |
 * | NUL, control bytes (raw or %00-%1F %7F) | 400     | 400                               |
 * | ; (path parameters, Tomcat/Spring)      | 400     | 400                               |
 * | bad %-encoding, non-UTF-8 %-bytes       | 400     | 400                               |
 * | raw space, raw bytes outside ASCII      | 400     | 400                               |
 * | %2E (encoded dot)                       | 400     | decoded, then as a dot            |
 * | . and .. segments                       | 400     | resolved (RFC 3986 §5.2.4)        |
 * | empty segments (//)                     | 400     | merged                            |
 * | %-encoded unreserved (%61, %7E)         | matched decoded, forwarded raw | decoded (§6.2.2.2) |
 * | other %-encodings (%20, %C3%A9)         | matched decoded, forwarded raw | hex upper-cased (§6.2.2.1) |
 * | letter case (A-Z only)                  | matched folded and as sent: 400 if they pick different rules, else forwarded as sent (both) |
 * | trailing slash                          | matched as if absent, forwarded as sent (both)              |
 *
 * Matching is on fully decoded segments, once with A-Z folded (as Express, case-insensitive by
 * default, routes) and once as sent (as Werkzeug, case-sensitive, routes): when the two pick
 * different rules, no one rule covers what every origin may run, and the path is refused. Once
 * %2F, %5C, %25XX and controls are refused, decoding can no longer create or hide a separator. The common path (plain
 * ASCII segments) is one test of a regex compiled once.
 */
import type { VARS } from "../config/vars";

/** PATH_NORMALIZATION's values (src/config/vars.ts). */
export type PathMode = (typeof VARS.PATH_NORMALIZATION.values)[number];

/** A path the route policy may judge. */
export interface JudgedPath {
  /** Segments for rule matching: percent-decoded, ASCII letters lower-cased, without the trailing empty one. */
  segments: string[];
  /** The same segments in the case they were sent: `segments` itself when it holds no upper-case letter. */
  asSent: string[];
  /** The path the origin receives: the raw path ("reject"), or its normalized form ("normalize"). */
  forward: string;
}

/**
 * Slashes and segments of RFC 3986 pchar without "%" and ";", no "." or ".." segment, no empty
 * segment but a trailing one. Nothing in such a path can be read two ways.
 */
const PLAIN_PATH = /^(?:\/(?!\.\.?(?:\/|$))[A-Za-z0-9\-._~!$&'()*+,=:@]+)*\/?$/;

const HEX = /^[0-9A-Fa-f]{2}$/;
const DOUBLE_ENCODED_TAIL = /^[0-9A-Fa-f%]{2}$/;

/** RFC 3986 §2.3 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~". */
function isUnreserved(byte: number): boolean {
  const lower = byte | 0x20;
  return (lower >= 97 && lower <= 122) || (byte >= 48 && byte <= 57) || byte === 45 || byte === 46 || byte === 95 || byte === 126;
}

/** RFC 3986 §6.2.2.1 and §6.2.2.2: unreserved decoded, every other escape's hex upper-cased. */
function normalizeEncoding(segment: string): string {
  return segment.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => {
    const byte = Number.parseInt(hex, 16);
    return isUnreserved(byte) ? String.fromCharCode(byte) : `%${hex.toUpperCase()}`;
  });
}

/**
 * The segments the policy matches and the path the origin receives, or why the path is refused
 * (the error_description of a 400 invalid_request). `raw` starts with "/" and is undecoded.
 */
export function judgePath(raw: string, mode: PathMode): JudgedPath | string {
  if (PLAIN_PATH.test(raw)) {
    const segments = segmentsOf(raw);
    // A plain path is ASCII: toLowerCase folds A-Z only.
    const folded = raw.toLowerCase();
    return { segments: folded === raw ? segments : segmentsOf(folded), asSent: segments, forward: raw };
  }
  return judgeUnusualPath(raw, mode);
}

function segmentsOf(path: string): string[] {
  const segments = path.split("/");
  segments.shift();
  if (segments[segments.length - 1] === "") segments.pop();
  return segments;
}

/**
 * A-Z to a-z, nothing else: a Unicode lower-casing maps the Kelvin sign (U+212A) to "k" and "İ" to
 * "i̇", which no ASCII-routing origin does, so a rule could match what the origin routes elsewhere.
 */
export function foldAscii(segment: string): string {
  return /[A-Z]/.test(segment) ? segment.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) | 0x20)) : segment;
}

/** The byte-by-byte judgment of a path the regex did not pass. */
function judgeUnusualPath(raw: string, mode: PathMode): JudgedPath | string {
  if (raw.charCodeAt(0) !== 47) return "The request path must start with '/'";
  const segments: string[] = [];
  const asSent: string[] = [];
  const forwarded: string[] = [];
  let start = 1;
  let encoded = false;
  let trailingSlash = false;
  for (let i = 1; i <= raw.length; i++) {
    const code = i < raw.length ? raw.charCodeAt(i) : 47;
    if (code === 47) {
      const last = i === raw.length;
      const rawSegment = raw.slice(start, i);
      start = i + 1;
      if (rawSegment === "") {
        if (last) {
          trailingSlash = true;
          break;
        }
        if (mode === "reject") return "The request path has an empty segment ('//')";
        continue;
      }
      let decoded = rawSegment;
      if (encoded) {
        try {
          decoded = decodeURIComponent(rawSegment);
        } catch {
          return "The request path is not validly percent-encoded UTF-8";
        }
        encoded = false;
      }
      if (decoded === "." || decoded === "..") {
        if (mode === "reject") return "The request path has a '.' or '..' segment";
        if (decoded === ".." && segments.length > 0) {
          segments.pop();
          asSent.pop();
          forwarded.pop();
        }
        // RFC 3986 §5.2.4: a final dot segment leaves a trailing slash.
        if (last) trailingSlash = segments.length > 0;
        continue;
      }
      segments.push(foldAscii(decoded));
      asSent.push(decoded);
      if (mode === "normalize") forwarded.push(rawSegment.includes("%") ? normalizeEncoding(rawSegment) : rawSegment);
      continue;
    }
    if (code === 37) {
      const hex = raw.slice(i + 1, i + 3);
      if (!HEX.test(hex)) return "The request path is not validly percent-encoded";
      const byte = Number.parseInt(hex, 16);
      if (byte === 0x2f || byte === 0x5c) return "The request path has a percent-encoded '/' or '\\'";
      if (byte < 0x20 || byte === 0x7f) return "The request path has a control character";
      // "%25" then two hex digits, or escapes that decode to them ("%252%46"): a second decode, by
      // the origin or by normalizing %46 here, would make a new escape such as %2F.
      if (byte === 0x25 && DOUBLE_ENCODED_TAIL.test(raw.slice(i + 3, i + 5))) return "The request path is percent-encoded twice";
      if (byte === 0x2e && mode === "reject") return "The request path has a percent-encoded '.'";
      encoded = true;
      i += 2;
      continue;
    }
    if (code === 92) return "The request path has a '\\'";
    if (code === 59) return "The request path has a ';' (path parameters are not accepted)";
    if (code < 0x20 || code === 0x7f) return "The request path has a control character";
    // Space and bytes outside ASCII: the runtime percent-encodes them, so they never arrive raw.
    if (code === 0x20 || code > 0x7e) return "The request path has a character that must be percent-encoded";
  }
  const sent = asSent.every((segment, i) => segment === segments[i]) ? segments : asSent;
  if (mode === "reject") return { segments, asSent: sent, forward: raw };
  const forward = `/${forwarded.join("/")}${trailingSlash && forwarded.length > 0 ? "/" : ""}`;
  return { segments, asSent: sent, forward };
}
