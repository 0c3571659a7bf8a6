/** Usage analytics: a key's series, a tenant's totals and top keys, a key's client IPs. */
import * as z from "zod/mini";
import { jsonResponse } from "../http/responses";
import { getKey } from "../keys/service";
import { usageConfig } from "../usage/config";
import {
  ipsQuerySchema,
  keyIpSchema,
  keyIps,
  keyUsage,
  keyUsageSchema,
  MAX_IPS,
  rangeOf,
  tenantGranularity,
  tenantUsage,
  tenantUsageQuerySchema,
  tenantUsageSchema,
  usageQuerySchema,
} from "../usage/query";
import { serviceDeps } from "./deps";
import { managementRoute } from "./spec";

const TENANT = "/api/v1/tenant/{tenant}";

export const usageRoutes = [
  managementRoute({
    method: "GET",
    path: `${TENANT}/api-keys/{id}/usage`,
    operationId: "getApiKeyUsage",
    summary: "A key's requests over time, by outcome",
    description:
      "Buckets of `granularity` (default hour) from `from` to `to` (default: the last 24 hours). Counts are exact once the usage queue has rolled them up (usually within seconds).",
    tag: "Usage",
    credential: "management",
    role: "viewer",
    audit: "usage",
    query: usageQuerySchema,
    responses: { 200: { description: "The series.", schema: keyUsageSchema } },
    async handle({ env, ctx, keyId, query }) {
      const range = rangeOf(query, ctx.now, "hour");
      await getKey(await serviceDeps(env), ctx.tenant, keyId); // 404 for unknown keys and other tenants' keys
      return jsonResponse(await keyUsage(env.DB, ctx.tenant, keyId, range));
    },
  }),
  managementRoute({
    method: "GET",
    path: `${TENANT}/api-keys/{id}/ips`,
    operationId: "getApiKeyClientIps",
    summary: "The client IPs a key has been used from",
    description: `Most recently seen first, at most \`limit\` (default and maximum ${MAX_IPS}).`,
    tag: "Usage",
    credential: "management",
    role: "viewer",
    audit: "usage",
    query: ipsQuerySchema,
    responses: { 200: { description: "A bare array.", schema: z.array(keyIpSchema) } },
    async handle({ env, ctx, keyId, query }) {
      await getKey(await serviceDeps(env), ctx.tenant, keyId);
      return jsonResponse(await keyIps(env.DB, ctx.tenant, keyId, query.limit ?? MAX_IPS));
    },
  }),
  managementRoute({
    method: "GET",
    path: `${TENANT}/usage`,
    operationId: "getTenantUsage",
    summary: "The tenant's totals by outcome and its top keys",
    description: "Counted at the finest granularity still kept for the whole range; bucket boundaries align to it.",
    tag: "Usage",
    credential: "management",
    role: "viewer",
    audit: "usage",
    query: tenantUsageQuerySchema,
    responses: { 200: { description: "Totals and the 20 busiest keys.", schema: tenantUsageSchema } },
    async handle({ env, ctx, query }) {
      const asked = rangeOf({ ...query, granularity: "day" }, ctx.now, "day");
      const granularity = tenantGranularity(asked.from, asked.to, ctx.now, usageConfig(env).retentionDays.hour);
      return jsonResponse(await tenantUsage(env.DB, ctx.tenant, { ...asked, granularity }));
    },
  }),
];
