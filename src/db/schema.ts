/** Drizzle schema of migrations/*.sql (the SQL there is what D1 runs; a test checks the two agree). */
import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { ACTOR_KINDS, AUDIT_ACTIONS, AUDIT_OUTCOMES } from "../vocab/audit.mjs";
import { DELIVERY_STATUSES, LEAK_ACTIONS } from "../vocab/events.mjs";
import type { Quota } from "../vocab/quotas.mjs";
import { GRANULARITY_NAMES } from "../vocab/usage.mjs";

/**
 * One stored rate limit, as the rate_limits column holds it (JSON). The request schema
 * (keys/requests.ts) validates what goes in and is checked, at compile time, to produce this shape.
 */
export interface RateLimitColumn {
  name: string;
  limit: number;
  window_seconds: number;
}

export const apiKeys = sqliteTable(
  "api_keys",
  {
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    id: text("id").notNull().unique(),
    tenantId: text("tenant_id").notNull(),
    name: text("name").notNull(),
    scopes: text("scopes", { mode: "json" }).$type<string[]>().notNull(),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at"),
    expiresInDays: integer("expires_in_days").notNull(),
    lastUsed: integer("last_used"),
    revoked: integer("revoked", { mode: "boolean" }).notNull().default(false),
    revokedAt: integer("revoked_at"),
    revokedBy: text("revoked_by"),
    revokeReason: text("revoke_reason"),
    createdBy: text("created_by").notNull(),
    subject: text("subject").notNull(),
    jti: text("jti").notNull(),
    kid: text("kid").notNull(),
    metadata: text("metadata", { mode: "json" }).$type<Record<string, unknown>>(),
    rotatedFrom: text("rotated_from"),
    replacedBy: text("replaced_by"),
    rotationCutoffAt: integer("rotation_cutoff_at"),
    updatedAt: integer("updated_at").notNull(),
    rateLimits: text("rate_limits", { mode: "json" }).$type<RateLimitColumn[]>(),
    allowedIps: text("allowed_ips", { mode: "json" }).$type<string[]>(),
    /** migrations/0010: the key's quota and its limit group. */
    quota: text("quota", { mode: "json" }).$type<Quota>(),
    limitGroup: text("limit_group"),
    /** migrations/0011: a break-glass key the unused-key policy never revokes. */
    exemptFromUnusedPolicy: integer("exempt_from_unused_policy", { mode: "boolean" }).notNull().default(false),
  },
  // The edge-record index is partial (see migrations/0006); drizzle only reads through it.
  (t) => [index("api_keys_tenant_seq").on(t.tenantId, t.seq)],
);

export type ApiKeyRow = typeof apiKeys.$inferSelect;

/** Change feed of edge records, appended by D1 triggers on api_keys (migrations/0005). */
export const edgeChanges = sqliteTable(
  "edge_changes",
  {
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    keyId: text("key_id").notNull(),
    at: integer("at").notNull(),
  },
  (t) => [index("edge_changes_at").on(t.at)],
);
export type NewApiKeyRow = typeof apiKeys.$inferInsert;

/** Where each cron task that walks all keys resumes (migrations/0006). */
export const cronCursors = sqliteTable("cron_cursors", {
  name: text("name").primaryKey(),
  cursor: text("cursor").notNull(),
  updatedAt: integer("updated_at").notNull(),
});

export const auditLog = sqliteTable(
  "audit_log",
  {
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    id: text("id").notNull().unique(),
    at: integer("at").notNull(),
    tenantId: text("tenant_id").notNull(),
    actorKind: text("actor_kind", { enum: ACTOR_KINDS }).notNull(),
    actorId: text("actor_id"),
    action: text("action", { enum: AUDIT_ACTIONS }).notNull(),
    targetKeyId: text("target_key_id"),
    outcome: text("outcome", { enum: AUDIT_OUTCOMES }).notNull(),
    status: integer("status").notNull(),
    error: text("error"),
    ip: text("ip"),
    userAgent: text("user_agent"),
    /** Where a reported leak was found (migrations/0004); NULL for every other entry. */
    sourceUrl: text("source_url"),
  },
  (t) => [
    index("audit_log_tenant_seq").on(t.tenantId, t.seq),
    index("audit_log_tenant_key").on(t.tenantId, t.targetKeyId, t.seq),
    // migrations/0006: audit retention finds old entries by time.
    index("audit_log_at").on(t.at),
  ],
);

export type AuditRow = typeof auditLog.$inferSelect;
export type NewAuditRow = typeof auditLog.$inferInsert;

/**
 * Refused management attempts of callers outside the tenant in the path, counted per hour
 * (migrations/0006); they never reach the tenant's audit log. `actor_id` is '' for anonymous.
 */
export const managementRefusals = sqliteTable(
  "management_refusals",
  {
    hour: integer("hour").notNull(),
    tenantId: text("tenant_id").notNull(),
    actorKind: text("actor_kind").notNull(),
    actorId: text("actor_id").notNull(),
    error: text("error").notNull(),
    count: integer("count").notNull(),
    firstAt: integer("first_at").notNull(),
    lastAt: integer("last_at").notNull(),
    lastIp: text("last_ip"),
    lastUserAgent: text("last_user_agent"),
    /** migrations/0007: the client network that started the row (src/audit/refusals.ts bounds rows per network). */
    network: text("network"),
  },
  (t) => [
    primaryKey({ columns: [t.hour, t.tenantId, t.actorKind, t.actorId, t.error] }),
    index("management_refusals_network").on(t.hour, t.network),
  ],
);

// Usage analytics, alerts and webhooks: migrations/0003_usage_alerts_webhooks.sql.

export const usageBatches = sqliteTable("usage_batches", {
  id: text("id").primaryKey(),
  appliedAt: integer("applied_at").notNull(),
});

export const usageCounts = sqliteTable(
  "usage_counts",
  {
    granularity: text("granularity", { enum: GRANULARITY_NAMES }).notNull(),
    tenantId: text("tenant_id").notNull(),
    keyId: text("key_id").notNull(),
    bucket: integer("bucket").notNull(),
    outcome: text("outcome").notNull(),
    count: integer("count").notNull(),
  },
  (t) => [primaryKey({ columns: [t.granularity, t.tenantId, t.keyId, t.bucket, t.outcome] })],
);

export const clientRefusals = sqliteTable(
  "client_refusals",
  { hour: integer("hour").notNull(), tenantId: text("tenant_id").notNull(), ip: text("ip").notNull(), count: integer("count").notNull() },
  (t) => [primaryKey({ columns: [t.hour, t.tenantId, t.ip] })],
);

export const keyIps = sqliteTable(
  "key_ips",
  {
    tenantId: text("tenant_id").notNull(),
    keyId: text("key_id").notNull(),
    ip: text("ip").notNull(),
    firstSeen: integer("first_seen").notNull(),
    lastSeen: integer("last_seen").notNull(),
    count: integer("count").notNull(),
    country: text("country"),
  },
  (t) => [primaryKey({ columns: [t.keyId, t.ip] })],
);

export const usageLosses = sqliteTable("usage_losses", {
  day: integer("day").primaryKey(),
  events: integer("events").notNull(),
});

export const tenantSettings = sqliteTable("tenant_settings", {
  tenantId: text("tenant_id").primaryKey(),
  volumePerHour: integer("volume_per_hour"),
  newIp: integer("new_ip", { mode: "boolean" }),
  refusalsPerHour: integer("refusals_per_hour"),
  expiringWithinDays: integer("expiring_within_days"),
  unusedDays: integer("unused_days"),
  leakAction: text("leak_action", { enum: LEAK_ACTIONS }),
  /** migrations/0010. */
  quotaLowPercent: integer("quota_low_percent"),
  /** migrations/0011: the unused-key policy (NULL or 0: off). */
  revokeUnusedAfterDays: integer("revoke_unused_after_days"),
  unusedNoticeDays: integer("unused_notice_days"),
  updatedAt: integer("updated_at").notNull(),
});

/** Which scope of a key satisfied its accepted requests, per UTC day (migrations/0011). */
export const scopeUsage = sqliteTable(
  "scope_usage",
  {
    tenantId: text("tenant_id").notNull(),
    keyId: text("key_id").notNull(),
    scope: text("scope").notNull(),
    day: integer("day").notNull(),
    count: integer("count").notNull(),
    lastAt: integer("last_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.keyId, t.scope, t.day] }), index("scope_usage_tenant_day").on(t.tenantId, t.day)],
);

export const alerts = sqliteTable("alerts", {
  seq: integer("seq").primaryKey({ autoIncrement: true }),
  id: text("id").notNull().unique(),
  tenantId: text("tenant_id").notNull(),
  type: text("type").notNull(),
  keyId: text("key_id"),
  dedupeKey: text("dedupe_key").notNull().unique(),
  createdAt: integer("created_at").notNull(),
  details: text("details", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
  acknowledgedAt: integer("acknowledged_at"),
  acknowledgedBy: text("acknowledged_by"),
});

/** Shared budgets (migrations/0010): keys that join one count against its counter too. */
export const limitGroups = sqliteTable(
  "limit_groups",
  {
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    id: text("id").notNull().unique(),
    tenantId: text("tenant_id").notNull(),
    name: text("name").notNull(),
    rateLimits: text("rate_limits", { mode: "json" }).$type<RateLimitColumn[]>(),
    quota: text("quota", { mode: "json" }).$type<Quota>(),
    createdAt: integer("created_at").notNull(),
    createdBy: text("created_by").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [index("limit_groups_tenant_seq").on(t.tenantId, t.seq)],
);

export type LimitGroupRow = typeof limitGroups.$inferSelect;

export type AlertRow = typeof alerts.$inferSelect;

export const webhooks = sqliteTable("webhooks", {
  seq: integer("seq").primaryKey({ autoIncrement: true }),
  id: text("id").notNull().unique(),
  tenantId: text("tenant_id").notNull(),
  url: text("url").notNull(),
  events: text("events", { mode: "json" }).$type<string[]>().notNull(),
  secret: text("secret").notNull(),
  createdAt: integer("created_at").notNull(),
  createdBy: text("created_by").notNull(),
});

export type WebhookRow = typeof webhooks.$inferSelect;

export const webhookDeliveries = sqliteTable("webhook_deliveries", {
  seq: integer("seq").primaryKey({ autoIncrement: true }),
  id: text("id").notNull().unique(),
  webhookId: text("webhook_id").notNull(),
  tenantId: text("tenant_id").notNull(),
  eventId: text("event_id").notNull(),
  eventType: text("event_type").notNull(),
  payload: text("payload").notNull(),
  status: text("status", { enum: DELIVERY_STATUSES }).notNull(),
  attempts: integer("attempts").notNull().default(0),
  nextAttemptAt: integer("next_attempt_at"),
  lastStatus: integer("last_status"),
  lastError: text("last_error"),
  createdAt: integer("created_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
});

export type DeliveryRow = typeof webhookDeliveries.$inferSelect;

export const webhookAttempts = sqliteTable(
  "webhook_attempts",
  {
    deliveryId: text("delivery_id").notNull(),
    attempt: integer("attempt").notNull(),
    at: integer("at").notNull(),
    responseStatus: integer("response_status"),
    error: text("error"),
    durationMs: integer("duration_ms").notNull(),
  },
  (t) => [primaryKey({ columns: [t.deliveryId, t.attempt] })],
);
