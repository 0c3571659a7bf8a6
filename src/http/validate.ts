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

/**
 * Deepest nesting a request's input may have. JSON fields such as `metadata` accept any depth in
 * their schema, so without this a deep enough value would pass the control-character walk below
 * unread and overflow the schema's recursion (a 500) further on.
 */
export const INPUT_MAX_DEPTH = 32;

/** What is wrong with `value` at `path` (too deep, or a control character), or null. */
function inputProblem(value: unknown, path: PropertyKey[], depth: number, controlChars: boolean): string | null {
  const where = () => formatPath(path) || "the request body";
  if (typeof value === "string")
    return controlChars && hasControlCharacters(value) ? `${where()} must not contain control characters` : null;
  if (value === null || typeof value !== "object") return null;
  if (depth >= INPUT_MAX_DEPTH) return `${where()} is nested too deeply (at most ${INPUT_MAX_DEPTH} levels)`;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = inputProblem(value[i], [...path, i], depth + 1, controlChars);
      if (found !== null) return found;
    }
    return null;
  }
  for (const [key, item] of Object.entries(value)) {
    if (controlChars && hasControlCharacters(key)) return `${where()} (a field name) must not contain control characters`;
    const found = inputProblem(item, [...path, key], depth + 1, controlChars);
    if (found !== null) return found;
  }
  return null;
}

/**
 * A 400 naming the field when a request's input (body or query) is nested deeper than
 * INPUT_MAX_DEPTH or, with `controlChars`, when any string of it (values and field names, however
 * deep) holds a control character: nothing a client sends stores one (src/lib/control-characters.ts
 * says why).
 */
export function refuseBadInput(input: unknown, { controlChars = true } = {}): void {
  const problem = inputProblem(input, [], 0, controlChars);
  if (problem !== null) throw new ApiError("invalid_request", problem);
}
