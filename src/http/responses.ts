import { ApiError, JSON_HEADERS } from "../errors";

export function jsonResponse(body: unknown, status = 200, extraHeaders?: Record<string, string>): Response {
  const headers = new Headers(JSON_HEADERS);
  for (const [name, value] of Object.entries(extraHeaders ?? {})) headers.set(name, value);
  return new Response(JSON.stringify(body), { status, headers });
}

/** A handler for the other methods of a route: 405 with the Allow header (RFC 9110 §15.5.6). */
export function methodNotAllowed(allow: string, hint?: string) {
  return (): never => {
    throw new ApiError("method_not_allowed", `Method not allowed here; use ${allow}${hint ? ` (${hint})` : ""}`, {
      headers: { allow },
    });
  };
}
