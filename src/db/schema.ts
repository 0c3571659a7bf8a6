/** Drizzle schema of migrations/*.sql (the SQL there is what D1 runs; a test checks the two agree). */
import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { ACTOR_KINDS, AUDIT_ACTIONS, AUDIT_OUTCOMES } from "../audit/entry";
import type { RateLimit } from "../keys/schemas";

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
    rateLimits: text("rate_limits", { mode: "json" }).$type<RateLimit[]>(),
    allowedIps: text("allowed_ips", { mode: "json" }).$type<string[]>(),
  },
  // The edge-record index is partial (see migrations/0002); drizzle only reads through it.
  (t) => [index("api_keys_tenant_seq").on(t.tenantId, t.seq)],
);

export type ApiKeyRow = typeof apiKeys.$inferSelect;
export type NewApiKeyRow = typeof apiKeys.$inferInsert;

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
  },
  (t) => [index("audit_log_tenant_seq").on(t.tenantId, t.seq), index("audit_log_tenant_key").on(t.tenantId, t.targetKeyId, t.seq)],
);

export type AuditRow = typeof auditLog.$inferSelect;
export type NewAuditRow = typeof auditLog.$inferInsert;
