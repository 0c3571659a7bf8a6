/**
 * Validation helpers shared by every request schema (bodies and query strings): each refusal is a
 * 400 invalid_request whose description names the field, so a caller knows exactly what to fix.
 */
// zod/mini: the same validation core as zod with a functional API that tree-shakes; the classic
// API cost ~100 KiB of the ~260 KiB bundle (cold start).
import * as z from "zod/mini";
import { ApiError } from "../errors";
import { hasControlCharacters } from "../lib/control-characters";

/** Any JSON value (recursive: the OpenAPI document names it once, as a component). */
export const jsonValue = z.json().register(z.globalRegistry, { id: "JsonValue" });

/** zod error map for a field's type check: "x is required" when absent, else `expected`. */
export function typeError(field: string, expected: string) {
  return { error: (issue: { input?: unknown }) => (issue.input === undefined ? `${field} is required` : expected) };
}

/** An integer field within [min, max], with one message for every way it can be wrong. */
export function boundedInt(field: string, min: number, max: number, range = `${min} to ${max}`) {
  const message = `${field} must be an integer from ${range}`;
  return z.int(typeError(field, message)).check(z.gte(min, message), z.lte(max, message));
}

/** Far above any key keygate issues (about 1 KiB). */
const TOKEN_MAX_LENGTH = 8192;

/** A `token` field carrying an API key (introspection, leak reports): present, non-empty, bounded. */
export function tokenField(description: string) {
  return z
    .string(typeError("token", "token must be a string"))
    .check(
      z.minLength(1, "token must not be empty"),
      z.maxLength(TOKEN_MAX_LENGTH, `token must be at most ${TOKEN_MAX_LENGTH} characters`),
      z.describe(description),
    );
}

/** A string field that must be one of `values`. */
export function oneOf<const T extends readonly [string, ...string[]]>(field: string, values: T) {
  return z.enum(values, { error: `${field} must be one of: ${values.join(", ")}` });
}

/** `rate_limits[1].limit` for the path ["rate_limits", 1, "limit"]. */
function formatPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join("");
}

/** One readable sentence for the first problem zod found, naming the field. */
export function describeIssue(error: z.core.$ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "invalid request";
  if (issue.code === "unrecognized_keys") {
    const where = issue.path.length > 0 ? ` in ${formatPath(issue.path)}` : "";
    return `unknown field(s)${where}: ${issue.keys.join(", ")}`;
  }
  const last = issue.path[issue.path.length - 1];
  // Messages above start with their field's name; a nested field gets its whole path instead.
  if (issue.path.length > 1 && last !== undefined && issue.message.startsWith(`${String(last)} `)) {
    return `${formatPath(issue.path)}${issue.message.slice(String(last).length)}`;
  }
  const field = issue.path[0];
  if (field === undefined || issue.message.startsWith(String(field))) return issue.message;
  return `${formatPath(issue.path)}: ${issue.message}`;
}

/** The parsed value, or a 400 invalid_request that names the problem. */
export function parseOrRefuse<S extends z.ZodMiniType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new ApiError("invalid_request", describeIssue(result.error));
  return result.data;
}

/** Deepest nesting walked for control characters; schemas refuse anything deeper anyway. */
const CONTROL_CHECK_MAX_DEPTH = 32;

/** The path of the first string (value or object key) in `value` holding a control character, or null. */
function controlCharField(value: unknown, path: PropertyKey[], depth: number): string | null {
  if (typeof value === "string") return hasControlCharacters(value) ? formatPath(path) || "the request body" : null;
  if (value === null || typeof value !== "object" || depth > CONTROL_CHECK_MAX_DEPTH) return null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = controlCharField(value[i], [...path, i], depth + 1);
      if (found !== null) return found;
    }
    return null;
  }
  for (const [key, item] of Object.entries(value)) {
    if (hasControlCharacters(key)) return `${formatPath(path) || "the request body"} (a field name)`;
    const found = controlCharField(item, [...path, key], depth + 1);
    if (found !== null) return found;
  }
  return null;
}

/**
 * A 400 naming the field when any string of a request's input (body or query, values and field
 * names, however deep) holds a control character: nothing a client sends stores one
 * (src/lib/control-characters.ts says why).
 */
export function refuseControlChars(input: unknown): void {
  const field = controlCharField(input, [], 0);
  if (field !== null) throw new ApiError("invalid_request", `${field} must not contain control characters`);
}
