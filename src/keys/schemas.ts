/**
 * Request bodies of the management API. Each schema is strict (unknown fields are refused) and
 * every refusal names the field, so a 400 tells the caller exactly what to fix.
 */
// zod/mini: the same validation core as zod with a functional API that tree-shakes; the classic
// API cost ~100 KiB of the ~260 KiB bundle (cold start).
import * as z from "zod/mini";
import type { ScopeCatalog } from "../config";
import { ApiError } from "../errors";

export const NAME_MAX_LENGTH = 200;
export const EXPIRES_IN_DAYS_MAX = 3650;
/** What `expires_in_days` defaults to when omitted, as in the seed's example. */
export const DEFAULT_EXPIRES_IN_DAYS = 90;
export const GRACE_PERIOD_MAX_SECONDS = 30 * 86_400;
export const DEFAULT_GRACE_PERIOD_SECONDS = 86_400;
export const METADATA_MAX_BYTES = 1024;
export const REASON_MAX_LENGTH = 500;

/** zod error map for a field's type check: "x is required" when absent, else `expected`. */
function typeError(field: string, expected: string) {
  return { error: (issue: { input?: unknown }) => (issue.input === undefined ? `${field} is required` : expected) };
}

/** An integer field within [min, max], with one message for every way it can be wrong. */
function boundedInt(field: string, min: number, max: number, range: string) {
  const message = `${field} must be an integer from ${range}`;
  return z.int(typeError(field, message)).check(z.gte(min, message), z.lte(max, message));
}

// Control characters would break logs, terminals and CSV exports of key names.
const NO_CONTROL_CHARS = /^[^\p{Cc}]*$/u;

const name = z
  .string(typeError("name", "name must be a string"))
  .check(
    z.trim(),
    z.minLength(1, "name must not be empty"),
    z.maxLength(NAME_MAX_LENGTH, `name must be at most ${NAME_MAX_LENGTH} characters`),
    z.regex(NO_CONTROL_CHARS, "name must not contain control characters"),
  );

const expiresInDays = boundedInt("expires_in_days", 0, EXPIRES_IN_DAYS_MAX, `0 (never expires) to ${EXPIRES_IN_DAYS_MAX}`);

function scopes(catalog: ScopeCatalog) {
  const list = z
    .array(z.string({ error: "scopes must be an array of strings" }), typeError("scopes", "scopes must be an array of strings"))
    .check(
      z.minLength(1, "scopes must list at least one scope"),
      z.superRefine((value, ctx) => {
        const unknown = value.filter((s) => !catalog.has(s));
        if (unknown.length > 0) {
          ctx.addIssue({ code: "custom", message: `unknown scope(s): ${unknown.join(", ")} (see GET /api/v1/scopes)` });
        }
      }),
    );
  return z.pipe(
    list,
    z.transform((value: string[]) => [...new Set(value)]),
  );
}

const metadata = z.nullable(z.record(z.string(), z.json(), { error: "metadata must be a JSON object" })).check(
  z.refine((m) => m === null || new TextEncoder().encode(JSON.stringify(m)).length <= METADATA_MAX_BYTES, {
    message: `metadata must be at most ${METADATA_MAX_BYTES} bytes of JSON`,
  }),
);

const schemasByCatalog = new WeakMap<ScopeCatalog, ReturnType<typeof build>>();

const OBJECT = { error: "the request body must be a JSON object" };

function build(catalog: ScopeCatalog) {
  return {
    create: z.strictObject({ name, scopes: scopes(catalog), expires_in_days: z.optional(expiresInDays) }, OBJECT),
    rotate: z.strictObject(
      {
        grace_period_seconds: z.optional(
          boundedInt("grace_period_seconds", 0, GRACE_PERIOD_MAX_SECONDS, `0 to ${GRACE_PERIOD_MAX_SECONDS}`),
        ),
        name: z.optional(name),
        scopes: z.optional(scopes(catalog)),
        expires_in_days: z.optional(expiresInDays),
      },
      OBJECT,
    ),
    update: z
      .strictObject({ name: z.optional(name), metadata: z.optional(metadata) }, OBJECT)
      .check(
        z.refine((b) => b.name !== undefined || b.metadata !== undefined, { message: "nothing to update: give name and/or metadata" }),
      ),
    revoke: z.strictObject(
      {
        reason: z.optional(
          z
            .string({ error: "reason must be a string" })
            .check(z.maxLength(REASON_MAX_LENGTH, `reason must be at most ${REASON_MAX_LENGTH} characters`)),
        ),
      },
      OBJECT,
    ),
  };
}

/** The request schemas for this deployment's scope catalog (built once per catalog). */
export function requestSchemas(catalog: ScopeCatalog) {
  let schemas = schemasByCatalog.get(catalog);
  if (!schemas) {
    schemas = build(catalog);
    schemasByCatalog.set(catalog, schemas);
  }
  return schemas;
}

export type CreateKeyInput = z.output<ReturnType<typeof build>["create"]>;
export type RotateKeyInput = z.output<ReturnType<typeof build>["rotate"]>;
export type UpdateKeyInput = z.output<ReturnType<typeof build>["update"]>;
export type RevokeKeyInput = z.output<ReturnType<typeof build>["revoke"]>;

/** One readable sentence for the first problem zod found. */
export function describeIssue(error: z.core.$ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "invalid request body";
  if (issue.code === "unrecognized_keys") return `unknown field(s): ${issue.keys.join(", ")}`;
  // Messages above already name their field; zod's own defaults get the path prefixed.
  const field = issue.path[0];
  if (field === undefined || issue.message.startsWith(String(field))) return issue.message;
  return `${issue.path.map(String).join(".")}: ${issue.message}`;
}

/** The parsed body, or a 400 invalid_request that names the problem. */
export function parseBody<S extends z.ZodMiniType>(schema: S, body: unknown): z.output<S> {
  const result = schema.safeParse(body);
  if (!result.success) throw new ApiError("invalid_request", describeIssue(result.error));
  return result.data;
}
