/** The tenant's audit log as a route-table entry. */
import * as z from "zod/mini";
import { auditEntryViewSchema, listAuditEntries } from "../audit/service";
import { database } from "../db/client";
import { DEFAULT_PAGE_LIMIT, nextPageHeaders, PAGE_HEADERS, pageQueryFields } from "../http/pagination";
import { jsonResponse } from "../http/responses";
import { boundedInt, oneOf } from "../http/validate";
import { AUDIT_ACTIONS } from "../vocab/audit.mjs";
import { managementRoute } from "./spec";

const KEY_ID_MAX_LENGTH = 128;

const auditQuery = z.object({
  ...pageQueryFields,
  key_id: z.optional(
    z
      .string()
      .check(
        z.maxLength(KEY_ID_MAX_LENGTH, `key_id must be at most ${KEY_ID_MAX_LENGTH} characters`),
        z.describe("Only entries about this key."),
      ),
  ),
  action: z.optional(oneOf("action", AUDIT_ACTIONS)),
  since: z.optional(boundedInt("since", 0, Number.MAX_SAFE_INTEGER).check(z.describe("Only entries at or after this unix time."))),
});

export const auditRoutes = [
  managementRoute({
    method: "GET",
    path: "/api/v1/tenant/{tenant}/audit-log",
    operationId: "listAuditLog",
    summary: "The tenant's audit log, newest first",
    description: "Every management change, and every refused management attempt. Successful reads are not recorded.",
    tag: "Audit",
    credential: "management",
    role: "viewer",
    audit: "audit",
    query: auditQuery,
    responses: { 200: { description: "A bare array of entries.", schema: z.array(auditEntryViewSchema), headers: PAGE_HEADERS } },
    async handle({ env, ctx, url, query }) {
      const result = await listAuditEntries(database(env.DB), ctx.tenant, {
        limit: query.limit ?? DEFAULT_PAGE_LIMIT,
        beforeSeq: query.cursor,
        keyId: query.key_id,
        action: query.action,
        since: query.since,
      });
      return jsonResponse(result.entries, 200, nextPageHeaders(url, result.nextSeq));
    },
  }),
];
