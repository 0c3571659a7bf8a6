/** Quota credits and limit groups (issue 19, docs/quotas.md), as route-table entries. */
import * as z from "zod/mini";
import { database } from "../db/client";
import { findGroup } from "../db/limit-groups-repo";
import type { Env } from "../env";
import { ApiError } from "../errors";
import { DEFAULT_PAGE_LIMIT, nextPageHeaders, PAGE_HEADERS, pageQueryFields } from "../http/pagination";
import { jsonResponse } from "../http/responses";
import { quotaViewSchema } from "../keys/views";
import { ID_NOUNS } from "../lib/ids";
import {
  createGroup,
  deleteGroup,
  GROUP_KEYS_SHOWN,
  type GroupDeps,
  getGroup,
  groupCreateSchema,
  groupUpdateSchema,
  groupViewSchema,
  listGroups,
  updateGroup,
} from "../ratelimit/limit-groups";
import { counterNamespace, creditKeyQuota, creditSchema } from "../ratelimit/quota-service";
import { groupUsage, groupUsageSchema } from "../usage/group-usage";
import { rangeOf, usageQuerySchema } from "../usage/query";
import { DETACH_PARAM } from "../vocab/quotas.mjs";
import { enqueueDeliveries } from "../webhooks/deliver";
import { keyEventSql } from "../webhooks/outbox";
import { managementRoute } from "./spec";

const TENANT = "/api/v1/tenant/{tenant}";
const GROUPS = `${TENANT}/limit-groups`;

const GROUP_EXAMPLE = {
  id: "grp-3f0b6a8e-2c4d-4e5f-9a1b-7c8d9e0f1a2b",
  name: "Acme Corp (all keys)",
  rate_limits: [{ name: "burst", limit: 1000, window_seconds: 60 }],
  quota: { limit: 1_000_000, period: "month" },
  created_at: 1705416000,
  updated_at: 1705416000,
};

function groupDeps(env: Env): GroupDeps {
  return { db: database(env.DB), counters: counterNamespace(env.RATE_LIMITER) };
}

const creditedSchema = z
  .strictObject({ key_id: z.string(), amount: z.int(), quota: quotaViewSchema })
  .register(z.globalRegistry, { id: "QuotaCredit", description: "A credit as applied, with the quota after it." });

const deleteQuery = z.object({
  [DETACH_PARAM]: z.optional(
    z
      .enum(["true", "false"], { error: `${DETACH_PARAM} must be true or false` })
      .check(
        z.describe("true: the group's keys leave it (they keep their own limits) and it is deleted; otherwise a group with keys is 409."),
      ),
  ),
});

export const quotaRoutes = [
  managementRoute({
    method: "POST",
    path: `${TENANT}/api-keys/{id}/quota/credit`,
    operationId: "creditApiKeyQuota",
    summary: "Add calls to an API key's quota",
    description:
      "The calls count in the quota's current period only (a `none` quota keeps them). Audited; webhooks subscribed to `key.quota_credited` are notified. A key without a quota, or revoked, is 409.",
    tag: "Quotas",
    credential: "management",
    audit: "credit_quota",
    role: "operator",
    body: { schema: () => creditSchema, required: true, example: { amount: 5000 } },
    responses: {
      200: {
        description: "The credit, with the quota as it stands after it.",
        schema: creditedSchema,
        example: {
          key_id: "key-550e8400-e29b-41d4-a716-446655440000",
          amount: 5000,
          quota: { limit: 100000, period: "month", remaining: 7250, credited: 5000, resets_at: 1706745600 },
        },
      },
    },
    errors: ["conflict", "temporarily_unavailable"],
    async handle({ env, ctx, keyId, body }) {
      const record = { event: keyEventSql, deliver: (deliveries: readonly string[]) => enqueueDeliveries(env.WEBHOOK_QUEUE, deliveries) };
      return jsonResponse(
        await creditKeyQuota({ db: database(env.DB), counters: counterNamespace(env.RATE_LIMITER), record }, ctx, keyId, body),
      );
    },
  }),
  managementRoute({
    method: "POST",
    path: GROUPS,
    operationId: "createLimitGroup",
    summary: "Create a limit group (a shared budget)",
    description:
      "Keys that join it (`limit_group` on create, rotate or PATCH) count against its rate limits and quota as well as their own; the tightest decides.",
    tag: "Limit groups",
    credential: "management",
    audit: "create_limit_group",
    role: "admin",
    body: {
      schema: () => groupCreateSchema,
      required: true,
      example: {
        name: "Acme Corp (all keys)",
        rate_limits: [{ name: "burst", limit: 1000, window_seconds: 60 }],
        quota: { limit: 1000000, period: "month" },
      },
    },
    responses: { 201: { description: "The group.", schema: groupViewSchema, example: GROUP_EXAMPLE } },
    errors: ["conflict"],
    async handle({ env, ctx, body }) {
      return jsonResponse(await createGroup(groupDeps(env), ctx, body), 201);
    },
  }),
  managementRoute({
    method: "GET",
    path: GROUPS,
    operationId: "listLimitGroups",
    summary: "The tenant's limit groups, newest first",
    description: `Pages of at most \`limit\` (default ${DEFAULT_PAGE_LIMIT}); the next page's cursor is in the headers. A group's keys and quota state are in its own view.`,
    tag: "Limit groups",
    credential: "management",
    audit: "limit_groups",
    role: "viewer",
    query: z.object(pageQueryFields),
    responses: {
      200: { description: "A bare array of groups.", schema: z.array(groupViewSchema), example: [GROUP_EXAMPLE], headers: PAGE_HEADERS },
    },
    async handle({ env, ctx, url, query }) {
      const result = await listGroups(groupDeps(env), ctx.tenant, query.limit ?? DEFAULT_PAGE_LIMIT, query.cursor);
      return jsonResponse(result.groups, 200, nextPageHeaders(url, result.nextSeq));
    },
  }),
  managementRoute({
    method: "GET",
    path: `${GROUPS}/{id}`,
    operationId: "getLimitGroup",
    summary: "One limit group, its keys and what remains of its quota",
    description: `\`keys\`: its keys, newest first (at most ${GROUP_KEYS_SHOWN}). \`quota.remaining\` and \`resets_at\` come from the group's counter (left out if it cannot be reached).`,
    tag: "Limit groups",
    credential: "management",
    audit: "limit_groups",
    role: "viewer",
    responses: {
      200: {
        description: "The group.",
        schema: groupViewSchema,
        example: {
          ...GROUP_EXAMPLE,
          quota: { limit: 1000000, period: "month", remaining: 412000, credited: 0, resets_at: 1706745600 },
          keys: [{ id: "key-550e8400-e29b-41d4-a716-446655440000", name: "CI/CD Pipeline Key" }],
        },
      },
    },
    async handle({ env, ctx, keyId: groupId }) {
      return jsonResponse(await getGroup(groupDeps(env), ctx.tenant, groupId, Date.now()));
    },
  }),
  managementRoute({
    method: "PATCH",
    path: `${GROUPS}/{id}`,
    operationId: "updateLimitGroup",
    summary: "Change a limit group's name, rate limits or quota",
    description:
      "The group's counter applies new policies at once (or within 10 s if it cannot be told); counts carry over while a window or period stays. A management key in the group cannot change it.",
    tag: "Limit groups",
    credential: "management",
    audit: "update_limit_group",
    role: "admin",
    body: { schema: () => groupUpdateSchema, required: true, example: { quota: { limit: 2000000, period: "month" } } },
    responses: { 200: { description: "The group as changed.", schema: groupViewSchema, example: GROUP_EXAMPLE } },
    async handle({ env, ctx, keyId: groupId, body }) {
      return jsonResponse(await updateGroup(groupDeps(env), ctx, groupId, body));
    },
  }),
  managementRoute({
    method: "DELETE",
    path: `${GROUPS}/{id}`,
    operationId: "deleteLimitGroup",
    summary: "Delete a limit group",
    description: `A group that still has keys is 409, unless \`?${DETACH_PARAM}=true\`: then its keys leave it first. A management key in the group cannot delete it.`,
    tag: "Limit groups",
    credential: "management",
    audit: "delete_limit_group",
    role: "admin",
    query: deleteQuery,
    responses: {
      200: {
        description: "Deleted; `detached`: how many keys left it.",
        schema: z.strictObject({ success: z.literal(true), detached: z.int() }),
        example: { success: true, detached: 3 },
      },
    },
    errors: ["conflict"],
    async handle({ env, ctx, keyId: groupId, query }) {
      const { detached } = await deleteGroup(groupDeps(env), ctx, groupId, query[DETACH_PARAM] === "true");
      return jsonResponse({ success: true, detached });
    },
  }),
  managementRoute({
    method: "GET",
    path: `${GROUPS}/{id}/usage`,
    operationId: "getLimitGroupUsage",
    summary: "A limit group's usage over time",
    description: "The usage buckets of the keys in the group now, summed by outcome (as a key's usage, GET .../api-keys/{id}/usage).",
    tag: "Limit groups",
    credential: "management",
    audit: "usage",
    role: "viewer",
    query: usageQuerySchema,
    responses: {
      200: {
        description: "Buckets with traffic, oldest first.",
        schema: groupUsageSchema,
        example: {
          limit_group: GROUP_EXAMPLE.id,
          granularity: "hour",
          from: 1795554000,
          to: 1795640400,
          buckets: [{ start: 1795557600, total: 12, outcomes: { accepted: 10, quota_exceeded: 2 } }],
          totals: { total: 12, outcomes: { accepted: 10, quota_exceeded: 2 } },
        },
      },
    },
    async handle({ env, ctx, keyId: groupId, query }) {
      // 404 for a group of another tenant, as for keys.
      if (!(await findGroup(database(env.DB), ctx.tenant, groupId))) throw new ApiError("not_found", `${ID_NOUNS.group} not found`);
      return jsonResponse(await groupUsage(env.DB, ctx.tenant, groupId, rangeOf(query, ctx.now, "hour")));
    },
  }),
];
