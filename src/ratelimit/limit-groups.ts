/**
 * Limit groups (shared budgets): a tenant's named set of rate limits and a quota that several keys
 * count against together, in one counter (Durable Object) per group, on top of each key's own. D1
 * holds the group (audited); after each change the group's counter is told its policies at once
 * (and re-reads them from D1 every GROUP_CONFIG_MAX_AGE_MS, so a push that failed is repaired).
 *
 * Management keys: one in a limit group may neither change nor delete that group (it could loosen
 * its own budget); keys join groups under src/keys/grant-policy.ts's rule.
 */
import * as z from "zod/mini";
import { auditEntry } from "../audit/entry";
import { actorLabel, type ManagementContext } from "../auth/principal";
import type { Db } from "../db/client";
import { findKeys } from "../db/keys-repo";
import * as repo from "../db/limit-groups-repo";
import type { LimitGroupRow } from "../db/schema";
import { ApiError } from "../errors";
import { typeError } from "../http/validate";
import { learnEdgeRecord } from "../keys/edge-cache";
import { edgeRecordOf } from "../keys/edge-record";
import { quotaSchema, type RateLimit, rateLimitSchema, rateLimitsSchema } from "../keys/requests";
import { quotaViewSchema } from "../keys/views";
import { NO_CONTROL_CHARACTERS } from "../lib/control-characters";
import { ID_NOUNS, newId } from "../lib/ids";
import { LIMIT_GROUP_NAME_MAX_LENGTH, LIMIT_GROUPS_MAX_PER_TENANT, type Quota } from "../vocab/quotas.mjs";
import type { LimitState, RateLimitCounter } from "./counter";
import { GROUP_CONFIG_MAX_AGE_MS, groupConfigOf } from "./group-config";
import { quotaStateView } from "./quota-service";

/** Keys of a group shown in its view (the rest: list keys and filter). */
export const GROUP_KEYS_SHOWN = 100;
const PUSH_TIMEOUT_MS = 1_000;
/** A deleted group's counter configuration: no policies, and no later push or read can bring any back. */
const DELETED_VERSION = Number.MAX_SAFE_INTEGER;

const name = z
  .string(typeError("name", "name must be a string"))
  .check(
    z.trim(),
    z.minLength(1, "name must not be empty"),
    z.maxLength(LIMIT_GROUP_NAME_MAX_LENGTH, `name must be at most ${LIMIT_GROUP_NAME_MAX_LENGTH} characters`),
    z.regex(NO_CONTROL_CHARACTERS, "name must not contain control characters"),
    z.describe("A label for people; not unique."),
  );

const OBJECT = { error: "the request body must be a JSON object" };

export const groupCreateSchema = z.strictObject(
  {
    name,
    rate_limits: z.optional(rateLimitsSchema),
    quota: z.optional(quotaSchema),
  },
  OBJECT,
);

export const groupUpdateSchema = z
  .strictObject(
    {
      name: z.optional(name),
      rate_limits: z.optional(z.nullable(rateLimitsSchema).check(z.describe("New limits; null or [] removes them."))),
      quota: z.optional(z.nullable(quotaSchema).check(z.describe("New quota; null removes it. Counts carry over while the period stays."))),
    },
    OBJECT,
  )
  .check(
    z.refine((b) => Object.values(b).some((v) => v !== undefined), { message: "nothing to update: give name, rate_limits and/or quota" }),
  );

export const groupViewSchema = z
  .strictObject({
    id: z.string(),
    name: z.string(),
    rate_limits: z.optional(z.array(rateLimitSchema)),
    quota: z.optional(quotaViewSchema),
    created_at: z.int(),
    updated_at: z.int(),
    keys: z.optional(
      z
        .array(z.strictObject({ id: z.string(), name: z.string() }))
        .check(z.describe(`The group's keys, newest first (at most ${GROUP_KEYS_SHOWN}); one group's view only.`)),
    ),
  })
  .register(z.globalRegistry, {
    id: "LimitGroup",
    description: "A shared budget: its keys count against its rate limits and quota as well as their own.",
  });

export type GroupView = z.output<typeof groupViewSchema>;

export interface GroupDeps {
  db: Db;
  counters: DurableObjectNamespace<RateLimitCounter>;
}

/**
 * Detached keys whose edge records the deleting isolate learns at once (one D1 read for them);
 * every isolate learns all of them from the edge change feed within REVOCATION_CACHE_TTL_SECONDS
 * (migration 0012's triggers record a limit_group change), and the cron's snapshot carries them. A
 * key still pointing at a deleted group meanwhile only costs a lease from a counter without policies.
 */
export const DETACH_MIRROR_MAX = 100;

function view(row: LimitGroupRow): GroupView {
  const v: GroupView = { id: row.id, name: row.name, created_at: row.createdAt, updated_at: row.updatedAt };
  if (row.rateLimits && row.rateLimits.length > 0) v.rate_limits = row.rateLimits;
  if (row.quota) v.quota = { limit: row.quota.limit, period: row.quota.period };
  return v;
}

function notFound(): never {
  throw new ApiError("not_found", `${ID_NOUNS.group} not found`);
}

function withTimeout<T>(promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`limit group counter did not answer within ${PUSH_TIMEOUT_MS} ms`)), PUSH_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Tells the group's counter its policies now; if it cannot be reached it re-reads them from D1 within GROUP_CONFIG_MAX_AGE_MS. */
async function push(deps: GroupDeps, row: LimitGroupRow | { id: string; deleted: true }, nowMs: number): Promise<void> {
  const stub = deps.counters.get(deps.counters.idFromName(row.id));
  const config = "deleted" in row ? { tenant: "", limits: [], policyHeader: "", version: DELETED_VERSION } : groupConfigOf(row);
  try {
    await withTimeout(stub.configure(config, nowMs));
  } catch (err) {
    console.error(
      `telling limit group ${row.id}'s counter its policies failed; it re-reads them within ${GROUP_CONFIG_MAX_AGE_MS} ms`,
      err,
    );
  }
}

/** A management key in a limit group may not change or delete it. */
function assertMayChange(ctx: ManagementContext, id: string): void {
  if (ctx.principal.kind === "key" && ctx.principal.limitGroup === id) {
    throw new ApiError("access_denied", "A management key cannot change or delete the limit group it is in itself");
  }
}

const emptyToNull = <T>(list: T[] | null | undefined): T[] | null | undefined =>
  list !== null && list !== undefined && list.length === 0 ? null : list;

export async function createGroup(deps: GroupDeps, ctx: ManagementContext, input: z.output<typeof groupCreateSchema>): Promise<GroupView> {
  if ((await repo.countGroups(deps.db, ctx.tenant)) >= LIMIT_GROUPS_MAX_PER_TENANT) {
    throw new ApiError("conflict", `A tenant may have at most ${LIMIT_GROUPS_MAX_PER_TENANT} limit groups; delete one first`);
  }
  const row: LimitGroupRow = {
    seq: 0,
    id: newId("group"),
    tenantId: ctx.tenant,
    name: input.name,
    rateLimits: (emptyToNull(input.rate_limits) ?? null) as RateLimit[] | null,
    quota: (input.quota ?? null) as Quota | null,
    createdAt: ctx.now,
    createdBy: actorLabel(ctx.principal),
    updatedAt: ctx.now,
  };
  const { seq: _, ...insert } = row;
  await repo.insertGroup(deps.db, insert, auditEntry(ctx, "create_limit_group", row.id, "success", 201));
  await push(deps, row, ctx.now * 1000);
  return view(row);
}

export async function listGroups(deps: GroupDeps, tenant: string, limit: number, beforeSeq?: number) {
  const rows = await repo.listGroups(deps.db, tenant, limit, beforeSeq);
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return { groups: page.map(view), nextSeq: rows.length > limit && last ? last.seq : null };
}

/** One group, with its keys and (when its counter answers) what remains of its quota. */
export async function getGroup(deps: GroupDeps, tenant: string, id: string, nowMs: number): Promise<GroupView> {
  const row = await repo.findGroup(deps.db, tenant, id);
  if (!row) notFound();
  const v = view(row);
  const keys = await repo.groupKeys(deps.db, tenant, id, GROUP_KEYS_SHOWN);
  v.keys = keys.slice(0, GROUP_KEYS_SHOWN).map((k) => ({ id: k.id, name: k.name }));
  if (row.quota) {
    try {
      const stub = deps.counters.get(deps.counters.idFromName(id));
      const states: LimitState[] = await withTimeout(stub.peekGroup(id, nowMs));
      const state = states.find((s) => s.period !== undefined);
      if (state) v.quota = quotaStateView(row.quota, state);
    } catch (err) {
      console.error(`reading limit group ${id}'s quota failed; its view is served without it`, err);
    }
  }
  return v;
}

export async function updateGroup(
  deps: GroupDeps,
  ctx: ManagementContext,
  id: string,
  input: z.output<typeof groupUpdateSchema>,
): Promise<GroupView> {
  assertMayChange(ctx, id);
  if (!(await repo.findGroup(deps.db, ctx.tenant, id))) notFound();
  const set: Partial<LimitGroupRow> = { updatedAt: ctx.now };
  if (input.name !== undefined) set.name = input.name;
  if (input.rate_limits !== undefined) set.rateLimits = (emptyToNull(input.rate_limits) ?? null) as RateLimit[] | null;
  if (input.quota !== undefined) set.quota = input.quota as Quota | null;
  const row = await repo.updateGroup(deps.db, ctx.tenant, id, set, auditEntry(ctx, "update_limit_group", id, "success", 200));
  if (!row) notFound();
  if (input.rate_limits !== undefined || input.quota !== undefined) await push(deps, row, ctx.now * 1000);
  return view(row);
}

/** 409 while keys are in the group, unless `detach`: then they leave it (the change feed tells the edge) and it goes. */
export async function deleteGroup(deps: GroupDeps, ctx: ManagementContext, id: string, detach: boolean): Promise<{ detached: number }> {
  assertMayChange(ctx, id);
  if (!(await repo.findGroup(deps.db, ctx.tenant, id))) notFound();
  if (!detach && (await repo.groupKeys(deps.db, ctx.tenant, id, 0)).length > 0) {
    throw new ApiError("conflict", "The limit group still has keys: move them out first, or delete with ?detach=true");
  }
  const result = await repo.deleteGroup(
    deps.db,
    ctx.tenant,
    id,
    detach,
    ctx.now,
    auditEntry(ctx, "delete_limit_group", id, "success", 200),
  );
  if (!result.deleted) {
    throw new ApiError("conflict", "The limit group still has keys: move them out first, or delete with ?detach=true");
  }
  await push(deps, { id, deleted: true }, ctx.now * 1000);
  if (result.detached.length > 0) {
    const rows = await findKeys(
      deps.db,
      result.detached.slice(0, DETACH_MIRROR_MAX).map((keyId) => ({ tenant: ctx.tenant, id: keyId })),
    );
    // This isolate enforces the detachment at once; the others learn it from the change feed.
    const atMs = Math.max(ctx.now * 1000, Date.now());
    for (const row of rows) learnEdgeRecord(row.id, edgeRecordOf(row), atMs);
  }
  return { detached: result.detached.length };
}
