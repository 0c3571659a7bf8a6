/**
 * The key lifecycle: create, read, list, update, rotate, revoke. No HTTP types here: routes parse
 * the request and hand over a context; every mutation writes its audit entry in the same D1
 * transaction; what the edge must know is enforced by this isolate at once (mirror) and reaches
 * the others through D1's change feed.
 */

import { type SQL, sql } from "drizzle-orm";
import { issueApiKey } from "../auth/api-key-token";
import { actorLabel, type ManagementContext } from "../auth/principal";
import type { SigningKeyRing } from "../auth/signing-keys";
import type { KeyConfig, ScopeLifetimePolicy } from "../config/keys";
import type { Db } from "../db/client";
import * as repo from "../db/keys-repo";
import { findGroup } from "../db/limit-groups-repo";
import type { ApiKeyRow, NewApiKeyRow, NewAuditRow } from "../db/schema";
import { ApiError } from "../errors";
import { ID_NOUNS, newId } from "../lib/ids";
import type { KEY_EVENTS } from "../vocab/events.mjs";
import type { KeyStatus } from "../vocab/key-status.mjs";
import type { Quota } from "../vocab/quotas.mjs";
import { API_KEY_REFUSALS } from "../vocab/refusals.mjs";
import { learnEdgeRecord } from "./edge-cache";
import { edgeRecordOf } from "./edge-record";
import {
  allowlistWithinOwn,
  assertAllowlistNoWider,
  assertLifetimeAllowed,
  assertLimitsNoLooser,
  assertMayGrant,
  assertMayJoinGroup,
  assertQuotaNoLooser,
} from "./grant-policy";
import {
  type CreateKeyInput,
  DEFAULT_EXPIRES_IN_DAYS,
  DEFAULT_GRACE_PERIOD_SECONDS,
  noneIfEmpty,
  type RateLimit,
  type RotateKeyInput,
  type UpdateKeyInput,
} from "./requests";
import { type CreatedKeyView, createdKeyView, type KeyView, keyView } from "./views";

const SECONDS_PER_DAY = 86_400;

/**
 * How a key change reaches the audit log and webhook receivers. The key domain sits below those
 * features and imports neither; whoever assembles the deps fills this in (routes/deps.ts: the audit
 * entry of audit/entry.ts, the outbox of webhooks/outbox.ts, the queue of webhooks/deliver.ts).
 */
export interface KeyChangeRecorder {
  /** The audit row of a successful change, written in the change's transaction. */
  audit(
    ctx: ManagementContext,
    action: "create" | "revoke" | "update" | "rotate" | "narrow" | "set_unused_exemption",
    keyId: string,
    outcome: "success",
    status: number,
  ): NewAuditRow;
  /** The webhook deliveries of a key event as SQL (RETURNING their ids), gated by `onlyIf`, in the change's transaction. */
  event(tenant: string, type: (typeof KEY_EVENTS)[number], data: unknown, now: number, onlyIf?: SQL): SQL;
  /** After the commit: sends the deliveries. */
  deliver(deliveries: readonly string[]): Promise<void>;
}

export interface KeyServiceDeps {
  db: Db;
  record: KeyChangeRecorder;
  ring: SigningKeyRing;
  keyConfig: KeyConfig;
  /** SCOPE_MAX_LIFETIME_DAYS. */
  lifetimePolicy: ScopeLifetimePolicy;
}

function notFound(): never {
  throw new ApiError("not_found", `${ID_NOUNS.key} not found`);
}

/** Metadata `{}` is none: stored as NULL, so a key without metadata has no edge record for it. */
function emptyAsNull(metadata: Record<string, unknown> | null | undefined): Record<string, unknown> | null {
  return metadata && Object.keys(metadata).length > 0 ? metadata : null;
}

function expiresAtFor(days: number, now: number): number | null {
  return days === 0 ? null : now + days * SECONDS_PER_DAY;
}

async function newKey(
  deps: KeyServiceDeps,
  ctx: ManagementContext,
  fields: {
    name: string;
    scopes: string[];
    expiresInDays: number;
    subject: string;
    metadata: Record<string, unknown> | null;
    rotatedFrom: string | null;
    rateLimits: RateLimit[] | null;
    allowedIps: string[] | null;
    quota: Quota | null;
    limitGroup: string | null;
    exemptFromUnusedPolicy: boolean;
    /** The principal's own row when a management key rotates itself. */
    self?: ApiKeyRow;
  },
): Promise<{
  row: NewApiKeyRow &
    Pick<
      ApiKeyRow,
      "expiresAt" | "rotatedFrom" | "rateLimits" | "allowedIps" | "metadata" | "exemptFromUnusedPolicy" | "quota" | "limitGroup"
    >;
  apiKey: string;
}> {
  assertLifetimeAllowed(deps.lifetimePolicy, fields.scopes, fields.expiresInDays);
  const expiresAt = expiresAtFor(fields.expiresInDays, ctx.now);
  assertMayGrant(ctx, fields.scopes, expiresAt, fields.self);
  assertLimitsNoLooser(ctx, fields.rateLimits);
  assertQuotaNoLooser(ctx, fields.quota);
  await assertGroupUsable(deps, ctx, fields.limitGroup);
  const id = newId("key");
  const jti = crypto.randomUUID();
  const apiKey = await issueApiKey(deps.ring, deps.keyConfig, {
    keyId: id,
    tenant: ctx.tenant,
    sub: fields.subject,
    scopes: fields.scopes,
    iat: ctx.now,
    exp: expiresAt,
    jti,
  });
  const row = {
    id,
    tenantId: ctx.tenant,
    name: fields.name,
    scopes: fields.scopes,
    createdAt: ctx.now,
    expiresAt,
    expiresInDays: fields.expiresInDays,
    createdBy: actorLabel(ctx.principal),
    subject: fields.subject,
    jti,
    kid: deps.ring.active.kid,
    metadata: emptyAsNull(fields.metadata),
    rotatedFrom: fields.rotatedFrom,
    rateLimits: fields.rateLimits,
    allowedIps: fields.allowedIps,
    quota: fields.quota,
    limitGroup: fields.limitGroup,
    exemptFromUnusedPolicy: fields.exemptFromUnusedPolicy,
    updatedAt: ctx.now,
  };
  return { row, apiKey };
}

/** A key may join a limit group of its own tenant that the principal may use (400 naming the field, 403). */
async function assertGroupUsable(deps: KeyServiceDeps, ctx: ManagementContext, group: string | null): Promise<void> {
  if (group === null) return;
  assertMayJoinGroup(ctx, group);
  if (!(await findGroup(deps.db, ctx.tenant, group))) {
    throw new ApiError("invalid_request", `limit_group ${group} is not a limit group of this tenant`);
  }
}

/** Sends the webhook deliveries a committed change created; the cron re-sends any this loses. */
async function notify(deps: KeyServiceDeps, deliveries: readonly string[]): Promise<void> {
  if (deliveries.length === 0) return;
  try {
    await deps.record.deliver(deliveries);
  } catch (err) {
    console.error("enqueueing webhook deliveries failed; the cron will send them", err);
  }
}

type MirroredRow = Parameters<typeof edgeRecordOf>[0] & Pick<ApiKeyRow, "id" | "expiresAt">;

/**
 * Makes this isolate enforce a key's changed edge record from its next request on. Other isolates
 * learn it from the change feed (D1's triggers wrote it with the change), the KV snapshot from the
 * reconciler's next run.
 */
function mirror(row: MirroredRow, now: number): void {
  // Learned after the D1 commit it mirrors (a feed poll that started earlier may have read D1 before
  // it, and must not undo it). `now` may be a test's clock ahead of ours.
  learnEdgeRecord(row.id, edgeRecordOf(row), Math.max(now * 1000, Date.now()));
}

/** A new key has an edge record only when it has limits or an allowlist. */
function mirrorNew(row: Omit<MirroredRow, "revoked" | "revokedAt" | "rotationCutoffAt" | "updatedAt">, now: number) {
  const stored = { ...row, revoked: false, revokedAt: null, rotationCutoffAt: null, updatedAt: now };
  if (edgeRecordOf(stored) !== null) mirror(stored, now);
}

/**
 * The allowlist of a created key: as given (an empty list: none), checked against a management
 * key's own; omitted, a pinned management key's own (a key it makes is usable where it is).
 */
function allowlistOfNewKey(ctx: ManagementContext, given: string[] | undefined): string[] | null {
  if (given === undefined) return ctx.principal.kind === "key" ? ctx.principal.allowedIps : null;
  const list = noneIfEmpty(given) ?? null;
  assertAllowlistNoWider(ctx, list);
  return list;
}

export async function createKey(deps: KeyServiceDeps, ctx: ManagementContext, input: CreateKeyInput): Promise<CreatedKeyView> {
  const { row, apiKey } = await newKey(deps, ctx, {
    name: input.name,
    scopes: input.scopes,
    expiresInDays: input.expires_in_days ?? DEFAULT_EXPIRES_IN_DAYS,
    // A key made by a management key belongs to the same subject as that key.
    subject: ctx.principal.sub,
    metadata: input.metadata ?? null,
    rotatedFrom: null,
    rateLimits: noneIfEmpty(input.rate_limits) ?? null,
    allowedIps: allowlistOfNewKey(ctx, input.allowed_ips),
    quota: input.quota ?? null,
    limitGroup: input.limit_group ?? null,
    exemptFromUnusedPolicy: input.exempt_from_unused_policy ?? false,
  });
  const { api_key: _, ...created } = createdKeyView(row, apiKey);
  const deliveries = await repo.insertKey(
    deps.db,
    row,
    deps.record.audit(ctx, "create", row.id, "success", 201),
    deps.record.event(ctx.tenant, "key.created", { key: created }, ctx.now),
  );
  mirrorNew(row, ctx.now);
  await notify(deps, deliveries);
  return createdKeyView(row, apiKey);
}

export async function getKey(deps: KeyServiceDeps, tenant: string, id: string): Promise<KeyView> {
  const row = await repo.findKey(deps.db, tenant, id);
  if (!row) notFound();
  return keyView(row);
}

export interface ListKeysOptions {
  limit: number;
  beforeSeq?: number;
  status?: KeyStatus;
  unusedDays?: number;
  now: number;
}

export async function listKeys(
  deps: KeyServiceDeps,
  tenant: string,
  options: ListKeysOptions,
): Promise<{ keys: KeyView[]; nextSeq: number | null }> {
  const rows = await repo.listKeys(deps.db, {
    tenant,
    limit: options.limit,
    beforeSeq: options.beforeSeq,
    status: options.status,
    unusedSince: options.unusedDays === undefined ? undefined : options.now - options.unusedDays * SECONDS_PER_DAY,
    now: options.now,
  });
  const page = rows.slice(0, options.limit);
  const last = page[page.length - 1];
  return { keys: page.map(keyView), nextSeq: rows.length > options.limit && last ? last.seq : null };
}

async function existing(deps: KeyServiceDeps, tenant: string, id: string): Promise<ApiKeyRow> {
  const row = await repo.findKey(deps.db, tenant, id);
  if (!row) notFound();
  return row;
}

export async function revokeKey(deps: KeyServiceDeps, ctx: ManagementContext, id: string, reason: string | null): Promise<void> {
  await existing(deps, ctx.tenant, id);
  await revoke(
    deps,
    ctx.tenant,
    id,
    { at: ctx.now, by: actorLabel(ctx.principal), reason },
    deps.record.audit(ctx, "revoke", id, "success", 200),
  );
}

/**
 * Every revocation: D1 (with its audit entry and the key.revoked webhook deliveries, in one
 * transaction), then KV and this isolate's edge cache, then the deliveries are sent.
 */
async function revoke(deps: KeyServiceDeps, tenant: string, id: string, input: repo.RevokeInput, audit: NewAuditRow): Promise<void> {
  const { row, deliveries } = await repo.revokeKey(
    deps.db,
    tenant,
    id,
    input,
    audit,
    // Only the first revocation is an event: the UPDATE before it changed the row.
    deps.record.event(
      tenant,
      "key.revoked",
      { key_id: id, revoked_at: input.at, revoked_by: input.by, reason: input.reason },
      input.at,
      sql`changes() > 0`,
    ),
  );
  if (!row) notFound();
  mirror(row, input.at);
  await notify(deps, deliveries);
}

/**
 * Revokes a key reported as leaked (src/leaks/act.ts), exactly as a management revoke does, with
 * the leak report's own audit entry. `by` is the revoking actor ("leak-report:github", ...).
 */
export async function revokeLeakedKey(
  deps: KeyServiceDeps,
  tenant: string,
  id: string,
  revocation: { at: number; by: string; reason: string },
  audit: NewAuditRow,
): Promise<void> {
  await revoke(deps, tenant, id, revocation, audit);
}

export async function updateKey(deps: KeyServiceDeps, ctx: ManagementContext, id: string, input: UpdateKeyInput): Promise<KeyView> {
  await existing(deps, ctx.tenant, id);
  const rateLimits = input.rate_limits === undefined ? undefined : (noneIfEmpty(input.rate_limits) ?? null);
  const allowedIps = input.allowed_ips === undefined ? undefined : (noneIfEmpty(input.allowed_ips) ?? null);
  if (rateLimits !== undefined) assertLimitsNoLooser(ctx, rateLimits);
  assertAllowlistNoWider(ctx, allowedIps);
  if (input.quota !== undefined) assertQuotaNoLooser(ctx, input.quota);
  if (input.limit_group !== undefined) await assertGroupUsable(deps, ctx, input.limit_group);
  const metadata = input.metadata === undefined ? undefined : emptyAsNull(input.metadata);
  const exempt = input.exempt_from_unused_policy;
  const row = await repo.updateKey(
    deps.db,
    ctx.tenant,
    id,
    {
      name: input.name,
      metadata,
      rateLimits,
      allowedIps,
      exemptFromUnusedPolicy: exempt,
      quota: input.quota,
      limitGroup: input.limit_group,
      at: ctx.now,
    },
    // An exemption from the unused-key policy is an entry of its own kind, so it can be found.
    deps.record.audit(ctx, exempt === undefined ? "update" : "set_unused_exemption", id, "success", 200),
  );
  if (!row) notFound();
  if (
    rateLimits !== undefined ||
    allowedIps !== undefined ||
    metadata !== undefined ||
    input.quota !== undefined ||
    input.limit_group !== undefined
  ) {
    mirror(row, ctx.now);
  }
  return keyView(row);
}

/**
 * The allowlist of a rotated key's replacement: as given, checked as at creation; omitted, the old
 * key's when it lies within a management key's own, else (the old key was wider) the management
 * key's own: a rotation never widens what its caller may grant.
 */
function allowlistOfReplacement(ctx: ManagementContext, given: string[] | undefined, old: string[] | null): string[] | null {
  if (given !== undefined) return allowlistOfNewKey(ctx, given);
  return allowlistWithinOwn(ctx, old) ? old : allowlistOfNewKey(ctx, undefined);
}

export async function rotateKey(
  deps: KeyServiceDeps,
  ctx: ManagementContext,
  id: string,
  input: RotateKeyInput,
  /** The audit entry's action: "narrow" for a rotation to the scopes a key exercised. */
  action: "rotate" | "narrow" = "rotate",
): Promise<CreatedKeyView> {
  const old = await existing(deps, ctx.tenant, id);
  if (old.revoked) throw new ApiError("conflict", `${API_KEY_REFUSALS.revoked}; create a new key instead`);
  if (old.replacedBy !== null) throw new ApiError("conflict", `API key was already rotated; its replacement is ${old.replacedBy}`);
  const cutoffAt = ctx.now + (input.grace_period_seconds ?? DEFAULT_GRACE_PERIOD_SECONDS);
  const { row, apiKey } = await newKey(deps, ctx, {
    name: input.name ?? old.name,
    scopes: input.scopes ?? old.scopes,
    expiresInDays: input.expires_in_days ?? old.expiresInDays,
    // The replacement speaks for the same subject, so origins see one identity across rotations.
    subject: old.subject,
    metadata: old.metadata,
    rotatedFrom: old.id,
    // Limits and allowlist carry over unless the rotation sets new ones.
    rateLimits: input.rate_limits === undefined ? old.rateLimits : (noneIfEmpty(input.rate_limits) ?? null),
    allowedIps: allowlistOfReplacement(ctx, input.allowed_ips, old.allowedIps),
    // So do the quota (the replacement counts its own, as a new key would) and the limit group.
    quota: input.quota === undefined ? (old.quota ?? null) : input.quota,
    limitGroup: input.limit_group === undefined ? (old.limitGroup ?? null) : input.limit_group,
    exemptFromUnusedPolicy: old.exemptFromUnusedPolicy,
    self: ctx.principal.kind === "key" && ctx.principal.keyId === old.id ? old : undefined,
  });
  const { api_key: _, ...created } = createdKeyView(row, apiKey);
  const { rotated, deliveries } = await repo.rotateKey(
    deps.db,
    ctx.tenant,
    old.id,
    cutoffAt,
    row,
    deps.record.audit(ctx, action, old.id, "success", 201),
    (happened) =>
      deps.record.event(
        ctx.tenant,
        "key.rotated",
        { key_id: old.id, grace_period_ends_at: cutoffAt, replacement: created },
        ctx.now,
        happened,
      ),
  );
  // Lost a race with a concurrent revoke or rotate of the same key: nothing was written.
  if (!rotated) throw new ApiError("conflict", "API key was revoked or rotated concurrently; nothing was changed");
  // The old key keeps its limits and allowlist through its grace period, then is refused.
  mirror({ ...old, rotationCutoffAt: cutoffAt }, ctx.now);
  mirrorNew(row, ctx.now);
  await notify(deps, deliveries);
  return createdKeyView(row, apiKey);
}
