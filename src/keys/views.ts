/**
 * The wire shape of a key, as zod schemas (they document the responses in the OpenAPI document and
 * the tests check every response against them) and the functions that build it from a row. The
 * seed's fields come first and are always present; fields beyond the seed (metadata, rotation
 * links, revocation time) appear only when they carry a value, so a client written against the
 * seed sees exactly the seed's objects.
 */
import * as z from "zod/mini";
import type { ApiKeyRow } from "../db/schema";
import { jsonValue } from "../http/validate";
import type { Quota } from "../vocab/quotas.mjs";
import { quotaSchema, type RateLimit, rateLimitSchema } from "./requests";

const unixSeconds = z.int();

/** A key's quota as shown; `remaining` and `resets_at` when its counter was asked (one key's view). */
export const quotaViewSchema = z
  .strictObject({
    limit: z.int(),
    period: quotaSchema.shape.period,
    remaining: z.optional(z.int().check(z.describe("Calls left in the current period (credits included); leased units count as spent."))),
    credited: z.optional(z.int().check(z.describe("Credited in the current period."))),
    resets_at: z.optional(z.nullable(unixSeconds).check(z.describe("When the period ends and the quota refills; null: never (`none`)."))),
  })
  .register(z.globalRegistry, {
    id: "QuotaState",
    description: "A quota, with what remains of it when the counter was asked.",
    examples: [{ limit: 100000, period: "month", remaining: 81234, credited: 5000, resets_at: 1706745600 }],
  });

export const keyViewSchema = z
  .strictObject({
    id: z.string(),
    name: z.string(),
    scopes: z.array(z.string()),
    created_at: unixSeconds,
    expires_at: z.nullable(unixSeconds),
    last_used: z.nullable(unixSeconds),
    revoked: z.boolean(),
    revoked_at: z.optional(unixSeconds),
    metadata: z.optional(z.record(z.string(), jsonValue)),
    rotated_from: z.optional(z.string()),
    replaced_by: z.optional(z.string()),
    grace_period_ends_at: z.optional(unixSeconds),
    rate_limits: z.optional(z.array(rateLimitSchema)),
    allowed_ips: z.optional(z.array(z.string())),
    quota: z.optional(quotaViewSchema),
    limit_group: z.optional(z.string()),
    exempt_from_unused_policy: z.optional(z.literal(true)),
  })
  .register(z.globalRegistry, { id: "ApiKey", description: "An API key's metadata (never the key itself)." });

export const createdKeyViewSchema = z
  .strictObject({
    id: z.string(),
    name: z.string(),
    api_key: z.string(),
    scopes: z.array(z.string()),
    created_at: unixSeconds,
    expires_at: z.nullable(unixSeconds),
    last_used: z.null(),
    revoked: z.literal(false),
    rotated_from: z.optional(z.string()),
    rate_limits: z.optional(z.array(rateLimitSchema)),
    allowed_ips: z.optional(z.array(z.string())),
    quota: z.optional(quotaViewSchema),
    limit_group: z.optional(z.string()),
    metadata: z.optional(z.record(z.string(), jsonValue)),
    exempt_from_unused_policy: z.optional(z.literal(true)),
  })
  .register(z.globalRegistry, { id: "CreatedApiKey", description: "A new key: the metadata plus `api_key`, shown only in this response." });

export type KeyView = z.output<typeof keyViewSchema>;
export type CreatedKeyView = z.output<typeof createdKeyViewSchema>;

export function keyView(row: ApiKeyRow): KeyView {
  const view: KeyView = {
    id: row.id,
    name: row.name,
    scopes: row.scopes,
    created_at: row.createdAt,
    expires_at: row.expiresAt,
    last_used: row.lastUsed,
    revoked: row.revoked,
  };
  if (row.revoked && row.revokedAt !== null) view.revoked_at = row.revokedAt;
  if (row.metadata !== null && Object.keys(row.metadata).length > 0) view.metadata = row.metadata as KeyView["metadata"];
  if (row.rotatedFrom !== null) view.rotated_from = row.rotatedFrom;
  if (row.replacedBy !== null) view.replaced_by = row.replacedBy;
  if (row.rotationCutoffAt !== null) view.grace_period_ends_at = row.rotationCutoffAt;
  withPolicy(view, row);
  if (row.exemptFromUnusedPolicy) view.exempt_from_unused_policy = true;
  return view;
}

/** Limits, allowlist, quota and group appear only when set: seed objects stay exact. */
function withPolicy(
  view: { rate_limits?: RateLimit[]; allowed_ips?: string[]; quota?: z.output<typeof quotaViewSchema>; limit_group?: string },
  row: Pick<ApiKeyRow, "rateLimits" | "allowedIps"> & { quota?: Quota | null; limitGroup?: string | null },
): void {
  if (row.rateLimits && row.rateLimits.length > 0) view.rate_limits = row.rateLimits;
  if (row.allowedIps && row.allowedIps.length > 0) view.allowed_ips = row.allowedIps;
  if (row.quota) view.quota = { limit: row.quota.limit, period: row.quota.period };
  if (row.limitGroup) view.limit_group = row.limitGroup;
}

export function createdKeyView(
  row: Pick<ApiKeyRow, "id" | "name" | "scopes" | "createdAt" | "expiresAt" | "rotatedFrom" | "rateLimits" | "allowedIps"> &
    Partial<Pick<ApiKeyRow, "metadata" | "exemptFromUnusedPolicy" | "quota" | "limitGroup">>,
  apiKey: string,
): CreatedKeyView {
  const view: CreatedKeyView = {
    id: row.id,
    name: row.name,
    api_key: apiKey,
    scopes: row.scopes,
    created_at: row.createdAt,
    expires_at: row.expiresAt,
    last_used: null,
    revoked: false,
  };
  if (row.rotatedFrom) view.rotated_from = row.rotatedFrom;
  withPolicy(view, row);
  if (row.metadata && Object.keys(row.metadata).length > 0) view.metadata = row.metadata as CreatedKeyView["metadata"];
  if (row.exemptFromUnusedPolicy) view.exempt_from_unused_policy = true;
  return view;
}
