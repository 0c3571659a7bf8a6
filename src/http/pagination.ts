/**
 * Cursor pagination for endpoints whose body is a bare JSON array (the seed's list shape).
 * The next page travels in headers: `Link: <...>; rel="next"` (RFC 8288) and `X-Next-Cursor`.
 * Clients that ignore them get the first page, newest first.
 */
import { ApiError } from "../errors";

export const DEFAULT_PAGE_LIMIT = 100;
export const MAX_PAGE_LIMIT = 1000;
const CURSOR_PREFIX = "v1:";

export function encodeCursor(seq: number): string {
  return btoa(CURSOR_PREFIX + seq)
    .replace(/=+$/, "")
    .replace(/\+/g, "-")
    .replace(/\//g, "_");
}

function decodeCursor(cursor: string): number {
  let decoded = "";
  try {
    decoded = atob(cursor.replace(/-/g, "+").replace(/_/g, "/"));
  } catch {
    // fall through to the error below
  }
  const seq = decoded.startsWith(CURSOR_PREFIX) ? Number(decoded.slice(CURSOR_PREFIX.length)) : Number.NaN;
  if (!Number.isSafeInteger(seq) || seq < 1) throw new ApiError("invalid_request", "cursor is not a cursor this API returned");
  return seq;
}

/** An optional integer query parameter within [min, max], or a 400 naming it. */
export function intParam(url: URL, name: string, min: number, max: number): number | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === "") return undefined;
  const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ApiError("invalid_request", `${name} must be an integer from ${min} to ${max}`);
  }
  return value;
}

/** An optional query parameter that must be one of `allowed`, or a 400 naming them. */
export function enumParam<T extends string>(url: URL, name: string, allowed: readonly T[]): T | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === "") return undefined;
  if (!(allowed as readonly string[]).includes(raw)) throw new ApiError("invalid_request", `${name} must be one of: ${allowed.join(", ")}`);
  return raw as T;
}

export interface PageRequest {
  limit: number;
  beforeSeq: number | undefined;
}

export function pageRequest(url: URL): PageRequest {
  const cursor = url.searchParams.get("cursor");
  return {
    limit: intParam(url, "limit", 1, MAX_PAGE_LIMIT) ?? DEFAULT_PAGE_LIMIT,
    beforeSeq: cursor === null || cursor === "" ? undefined : decodeCursor(cursor),
  };
}

/** Headers that point at the next page, or none on the last page. */
export function nextPageHeaders(url: URL, nextSeq: number | null): Record<string, string> {
  if (nextSeq === null) return {};
  const cursor = encodeCursor(nextSeq);
  const next = new URL(url);
  next.searchParams.set("cursor", cursor);
  return { link: `<${next.href}>; rel="next"`, "x-next-cursor": cursor };
}
