/**
 * Cursor pagination for endpoints whose body is a bare JSON array (the seed's list shape).
 * The next page travels in headers: `Link: <...>; rel="next"` (RFC 8288) and `X-Next-Cursor`.
 * Clients that ignore them get the first page, newest first.
 */
import * as z from "zod/mini";
import { boundedInt } from "./validate";

export const DEFAULT_PAGE_LIMIT = 100;
export const MAX_PAGE_LIMIT = 1000;
const CURSOR_PREFIX = "v1:";
const CURSOR_ERROR = "cursor is not a cursor this API returned";

export function encodeCursor(seq: number): string {
  return btoa(CURSOR_PREFIX + seq)
    .replace(/=+$/, "")
    .replace(/\+/g, "-")
    .replace(/\//g, "_");
}

function decodeCursor(cursor: string): number | undefined {
  let decoded = "";
  try {
    decoded = atob(cursor.replace(/-/g, "+").replace(/_/g, "/"));
  } catch {
    return undefined;
  }
  const seq = decoded.startsWith(CURSOR_PREFIX) ? Number(decoded.slice(CURSOR_PREFIX.length)) : Number.NaN;
  return Number.isSafeInteger(seq) && seq >= 1 ? seq : undefined;
}

/** Query fields of every paged endpoint: `limit` and `cursor` (decoded to the sequence number it stands for). */
export const pageQueryFields = {
  limit: z.optional(boundedInt("limit", 1, MAX_PAGE_LIMIT).check(z.describe(`Page size, default ${DEFAULT_PAGE_LIMIT}.`))),
  cursor: z.optional(
    z.pipe(
      z.string({ error: CURSOR_ERROR }).check(z.describe("The X-Next-Cursor of the previous page.")),
      z.transform((value: string, ctx) => {
        const seq = decodeCursor(value);
        if (seq === undefined) ctx.issues.push({ code: "custom", message: CURSOR_ERROR, input: value });
        return seq ?? 0;
      }),
    ),
  ),
};

/** Response headers of a paged endpoint, for the document. */
export const PAGE_HEADERS = {
  link: 'RFC 8288 link to the next page (rel="next"); absent on the last page.',
  "x-next-cursor": "Cursor of the next page; absent on the last page.",
};

/** Headers that point at the next page, or none on the last page. */
export function nextPageHeaders(url: URL, nextSeq: number | null): Record<string, string> {
  if (nextSeq === null) return {};
  const cursor = encodeCursor(nextSeq);
  const next = new URL(url);
  next.searchParams.set("cursor", cursor);
  return { link: `<${next.href}>; rel="next"`, "x-next-cursor": cursor };
}
