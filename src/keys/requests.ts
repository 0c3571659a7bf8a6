/**
 * Request bodies of the key-lifecycle endpoints. Each schema is strict (unknown fields are
 * refused) and every refusal names the field, so a 400 tells the caller exactly what to fix.
 */
import * as z from "zod/mini";
import type { ScopeCatalog } from "../config/keys";
import type { RateLimitColumn } from "../db/schema";
import { boundedInt, jsonValue, typeError } from "../http/validate";
import { NO_CONTROL_CHARACTERS } from "../lib/control-characters";
import { isId } from "../lib/ids";
import { parseCidr } from "../lib/ip";
import { QUOTA_LIMIT_MAX, QUOTA_PERIODS } from "../vocab/quotas.mjs";
import { inCatalog } from "./scopes";

export const NAME_MAX_LENGTH = 200;
export const EXPIRES_IN_DAYS_MAX = 3650;
/** What `expires_in_days` defaults to when omitted, as in the seed's example. */
export const DEFAULT_EXPIRES_IN_DAYS = 90;
export const GRACE_PERIOD_MAX_SECONDS = 30 * 86_400;
export const DEFAULT_GRACE_PERIOD_SECONDS = 86_400;
export const METADATA_MAX_BYTES = 1024;
export const REASON_MAX_LENGTH = 500;

const name = z
  .string(typeError("name", "name must be a string"))
  .check(
    z.trim(),
    z.minLength(1, "name must not be empty"),
    z.maxLength(NAME_MAX_LENGTH, `name must be at most ${NAME_MAX_LENGTH} characters`),
    z.regex(NO_CONTROL_CHARACTERS, "name must not contain control characters"),
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
        const unknown = value.filter((s) => !inCatalog(catalog, s));
        if (unknown.length > 0) {
          ctx.addIssue({ code: "custom", message: `unknown scope(s): ${unknown.join(", ")} (see GET /api/v1/scopes)` });
        }
      }),
      z.describe(
        "Scopes from the catalog (GET /api/v1/scopes), or a catalog prefix wildcard such as `deploy:*` (every catalog scope under `deploy:`); duplicates are dropped.",
      ),
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

const exemptFromUnusedPolicy = z
  .boolean({ error: "exempt_from_unused_policy must be true or false" })
  .check(z.describe("true: the tenant's unused-key policy never revokes this key (a break-glass key). Audited."));

export const RATE_LIMITS_MAX = 5;
export const RATE_LIMIT_MAX = 1_000_000_000;
/** 31 days: the longest window a limit may count over. */
export const RATE_LIMIT_WINDOW_MAX_SECONDS = 2_678_400;
const RATE_LIMIT_NAME = /^[a-z0-9_-]{1,32}$/;
export const ALLOWED_IPS_MAX = 50;

export const rateLimitSchema = z
  .strictObject(
    {
      name: z
        .string(typeError("name", "name must be a string"))
        .check(z.regex(RATE_LIMIT_NAME, "name must be 1-32 of a-z, 0-9, '_' and '-'")),
      limit: boundedInt("limit", 1, RATE_LIMIT_MAX),
      window_seconds: boundedInt("window_seconds", 1, RATE_LIMIT_WINDOW_MAX_SECONDS),
    },
    { error: "each rate limit must be an object {name, limit, window_seconds}" },
  )
  .register(z.globalRegistry, {
    id: "RateLimit",
    description: "At most `limit` requests in each fixed window of `window_seconds` (aligned to the unix epoch).",
  });

export type RateLimit = z.output<typeof rateLimitSchema>;
/** The request schema and the stored column (db/schema.ts) describe one object: this fails to compile if they part. */
export type RateLimitIsStoredAsIs = Assert<[RateLimit, RateLimitColumn] extends [RateLimitColumn, RateLimit] ? true : false>;
type Assert<T extends true> = T;

export const rateLimitsSchema = z
  .array(rateLimitSchema, typeError("rate_limits", "rate_limits must be an array of {name, limit, window_seconds}"))
  .check(
    z.maxLength(RATE_LIMITS_MAX, `rate_limits may hold at most ${RATE_LIMITS_MAX} limits`),
    z.refine((list) => new Set(list.map((l) => l.name)).size === list.length, "rate_limits names must be unique"),
    z.describe(`Up to ${RATE_LIMITS_MAX} limits, all enforced; a request over any of them gets 429.`),
  );

const allowedIps = z.pipe(
  z
    .array(
      z.string({ error: "allowed_ips must be an array of strings" }),
      typeError("allowed_ips", "allowed_ips must be an array of strings"),
    )
    .check(
      z.maxLength(ALLOWED_IPS_MAX, `allowed_ips may hold at most ${ALLOWED_IPS_MAX} entries`),
      z.superRefine((list, ctx) => {
        list.forEach((entry, i) => {
          const parsed = parseCidr(entry);
          if (!parsed.ok) ctx.addIssue({ code: "custom", message: `allowed_ips[${i}] ${JSON.stringify(entry)} ${parsed.reason}` });
        });
      }),
      z.describe(`Up to ${ALLOWED_IPS_MAX} IPv4/IPv6 addresses or CIDR ranges the key may be used from.`),
    ),
  z.transform((list: string[]) => [
    ...new Set(list.map((entry) => (parseCidr(entry) as { ok: true; range: { text: string } }).range.text)),
  ]),
);

export const quotaSchema = z
  .strictObject(
    {
      limit: boundedInt("limit", 1, QUOTA_LIMIT_MAX),
      period: z.enum(QUOTA_PERIODS, { error: `period must be one of: ${QUOTA_PERIODS.join(", ")}` }),
    },
    { error: "quota must be an object {limit, period}" },
  )
  .register(z.globalRegistry, {
    id: "Quota",
    examples: [
      { limit: 100000, period: "month" },
      { limit: 5000, period: "none" },
    ],
    description:
      "At most `limit` calls (route cost units) per calendar `period` in UTC (`day`, `month`), or in all (`none`: never refills); credits add to the current period.",
  });

/** A limit group's id (the group must be of the same tenant: the service checks). */
export const limitGroupIdSchema = z.string(typeError("limit_group", "limit_group must be a limit group id (grp-...)")).check(
  z.refine((v) => isId("group", v), "limit_group must be a limit group id (grp-...)"),
  z.describe("A limit group of the same tenant: the key's requests count against the group's limits and quota too."),
);

/** An empty list means none: stored as NULL, not shown. */
function noneIfEmpty<T>(list: T[] | null | undefined): T[] | null | undefined {
  return list !== null && list !== undefined && list.length === 0 ? null : list;
}

const OBJECT = { error: "the request body must be a JSON object" };

function build(catalog: ScopeCatalog) {
  return {
    create: z.strictObject(
      {
        name,
        scopes: scopes(catalog),
        expires_in_days: z.optional(expiresInDays),
        rate_limits: z.optional(rateLimitsSchema),
        allowed_ips: z.optional(allowedIps),
        quota: z.optional(quotaSchema),
        limit_group: z.optional(limitGroupIdSchema),
        metadata: z.optional(metadata),
        exempt_from_unused_policy: z.optional(exemptFromUnusedPolicy),
      },
      OBJECT,
    ),
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
        rate_limits: z.optional(rateLimitsSchema),
        allowed_ips: z.optional(allowedIps),
        quota: z.optional(
          z.nullable(quotaSchema).check(z.describe("A new quota for the replacement; null: none. Omitted: the old key's.")),
        ),
        limit_group: z.optional(
          z.nullable(limitGroupIdSchema).check(z.describe("The replacement's limit group; null: none. Omitted: the old key's.")),
        ),
      },
      OBJECT,
    ),
    update: z
      .strictObject(
        {
          name: z.optional(name),
          metadata: z.optional(metadata),
          rate_limits: z.optional(z.nullable(rateLimitsSchema).check(z.describe("New limits; null or [] removes them."))),
          allowed_ips: z.optional(z.nullable(allowedIps).check(z.describe("New allowlist; null or [] removes it."))),
          quota: z.optional(
            z.nullable(quotaSchema).check(z.describe("New quota; null removes it. Counts carry over while the period stays.")),
          ),
          limit_group: z.optional(z.nullable(limitGroupIdSchema).check(z.describe("Join this limit group; null leaves the key's group."))),
          exempt_from_unused_policy: z.optional(exemptFromUnusedPolicy),
          scopes: z.optional(z.never({ error: "scopes of an issued key cannot change in place; rotate the key with new scopes" })),
        },
        OBJECT,
      )
      .check(
        z.refine((b) => Object.values(b).some((v) => v !== undefined), {
          message: "nothing to update: give name, metadata, rate_limits, allowed_ips, exempt_from_unused_policy, quota and/or limit_group",
        }),
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

export { noneIfEmpty };

export type CreateKeyInput = z.output<ReturnType<typeof build>["create"]>;
export type RotateKeyInput = z.output<ReturnType<typeof build>["rotate"]>;
export type UpdateKeyInput = z.output<ReturnType<typeof build>["update"]>;
export type RevokeKeyInput = z.output<ReturnType<typeof build>["revoke"]>;
