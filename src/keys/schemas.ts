/**
 * Request bodies of the key-lifecycle endpoints. Each schema is strict (unknown fields are
 * refused) and every refusal names the field, so a 400 tells the caller exactly what to fix.
 */
import * as z from "zod/mini";
import type { ScopeCatalog } from "../config";
import { boundedInt, jsonValue, typeError } from "../http/validate";

export const NAME_MAX_LENGTH = 200;
export const EXPIRES_IN_DAYS_MAX = 3650;
/** What `expires_in_days` defaults to when omitted, as in the seed's example. */
export const DEFAULT_EXPIRES_IN_DAYS = 90;
export const GRACE_PERIOD_MAX_SECONDS = 30 * 86_400;
export const DEFAULT_GRACE_PERIOD_SECONDS = 86_400;
export const METADATA_MAX_BYTES = 1024;
export const REASON_MAX_LENGTH = 500;

// Control characters would break logs, terminals and CSV exports of key names.
const NO_CONTROL_CHARS = /^[^\p{Cc}]*$/u;

const name = z
  .string(typeError("name", "name must be a string"))
  .check(
    z.trim(),
    z.minLength(1, "name must not be empty"),
    z.maxLength(NAME_MAX_LENGTH, `name must be at most ${NAME_MAX_LENGTH} characters`),
    z.regex(NO_CONTROL_CHARS, "name must not contain control characters"),
    z.describe("A label for people; not unique."),
  );

const expiresInDays = boundedInt("expires_in_days", 0, EXPIRES_IN_DAYS_MAX, `0 (never expires) to ${EXPIRES_IN_DAYS_MAX}`).check(
  z.describe(`Lifetime in days; 0 = never expires. Default ${DEFAULT_EXPIRES_IN_DAYS}.`),
);

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
      z.describe("Scopes from the catalog (GET /api/v1/scopes); duplicates are dropped."),
    );
  return z.pipe(
    list,
    z.transform((value: string[]) => [...new Set(value)]),
  );
}

const metadata = z.nullable(z.record(z.string(), jsonValue, { error: "metadata must be a JSON object" })).check(
  z.refine((m) => m === null || new TextEncoder().encode(JSON.stringify(m)).length <= METADATA_MAX_BYTES, {
    message: `metadata must be at most ${METADATA_MAX_BYTES} bytes of JSON`,
  }),
  z.describe(`Free-form JSON object, at most ${METADATA_MAX_BYTES} bytes; null clears it.`),
);

const OBJECT = { error: "the request body must be a JSON object" };

function build(catalog: ScopeCatalog) {
  return {
    create: z.strictObject({ name, scopes: scopes(catalog), expires_in_days: z.optional(expiresInDays) }, OBJECT),
    rotate: z.strictObject(
      {
        grace_period_seconds: z.optional(
          boundedInt("grace_period_seconds", 0, GRACE_PERIOD_MAX_SECONDS).check(
            z.describe(`How long the old key keeps working; 0 = refuse it now. Default ${DEFAULT_GRACE_PERIOD_SECONDS}.`),
          ),
        ),
        name: z.optional(name),
        scopes: z.optional(scopes(catalog)),
        expires_in_days: z.optional(expiresInDays),
      },
      OBJECT,
    ),
    update: z
      .strictObject(
        {
          name: z.optional(name),
          metadata: z.optional(metadata),
          scopes: z.optional(z.never({ error: "scopes of an issued key cannot change in place; rotate the key with new scopes" })),
        },
        OBJECT,
      )
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

const schemasByCatalog = new WeakMap<ScopeCatalog, ReturnType<typeof build>>();

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
