/** The least-privilege report and narrowing a key to what it exercised (docs/governance.md). */
import * as z from "zod/mini";
import { scopeCatalog } from "../config/keys";
import { database } from "../db/client";
import { listKeys as listKeyRows } from "../db/keys-repo";
import { ApiError } from "../errors";
import {
  DEFAULT_WINDOW_DAYS,
  keyScopeUsageSchema,
  MAX_WINDOW_DAYS,
  recordedUsage,
  reportEntry,
  scopeReportSchema,
  usageOfScopes,
  windowOf,
} from "../governance/scope-usage";
import { DEFAULT_PAGE_LIMIT, nextPageHeaders, PAGE_HEADERS, pageQueryFields } from "../http/pagination";
import { jsonResponse } from "../http/responses";
import { boundedInt } from "../http/validate";
import { DEFAULT_GRACE_PERIOD_SECONDS, GRACE_PERIOD_MAX_SECONDS } from "../keys/requests";
import { inCatalog } from "../keys/scopes";
import { getKey, rotateKey } from "../keys/service";
import { createdKeyViewSchema } from "../keys/views";
import { serviceDeps } from "./deps";
import { managementRoute } from "./spec";

const TENANT = "/api/v1/tenant/{tenant}";

const days = z.optional(
  boundedInt("days", 1, MAX_WINDOW_DAYS).check(
    z.describe(`The window in whole UTC days, today included (default ${DEFAULT_WINDOW_DAYS}, at most ${MAX_WINDOW_DAYS}).`),
  ),
);

const CANNOT_KNOW =
  "A scope not needed within the window (a quarterly job, a yearly audit) reads as unexercised: choose the window with that in mind.";

export const governanceRoutes = [
  managementRoute({
    method: "GET",
    path: `${TENANT}/api-keys/{id}/scope-usage`,
    operationId: "getApiKeyScopeUsage",
    summary: "Which of a key's scopes it exercised",
    description: `Each scope the key holds: whether a request was judged by it within the window, how often and when last. A wildcard or admin:all lists the scopes the rules asked for that it satisfied. Pages of \`limit\` scopes by name. ${CANNOT_KNOW}`,
    tag: "Governance",
    credential: "management",
    role: "viewer",
    audit: "scope_usage",
    query: z.object({ ...pageQueryFields, days }),
    responses: { 200: { description: "The key's scopes and the window.", schema: keyScopeUsageSchema, headers: PAGE_HEADERS } },
    async handle({ env, ctx, keyId, url, query }) {
      const key = await getKey(await serviceDeps(env), ctx.tenant, keyId);
      const window = windowOf(query.days ?? DEFAULT_WINDOW_DAYS, ctx.now);
      const recorded = (await recordedUsage(env.DB, [keyId], window.from)).get(keyId) ?? [];
      const { rows, exercised } = usageOfScopes(key.scopes, recorded);
      rows.sort((a, b) => (a.scope < b.scope ? -1 : a.scope > b.scope ? 1 : 0));
      // The cursor is the 1-based position of the page's first scope.
      const start = (query.cursor ?? 1) - 1;
      const limit = query.limit ?? DEFAULT_PAGE_LIMIT;
      const next = start + limit < rows.length ? start + limit + 1 : null;
      return jsonResponse(
        { key_id: keyId, window, scopes: rows.slice(start, start + limit), exercised_scopes: exercised },
        200,
        nextPageHeaders(url, next),
      );
    },
  }),
  managementRoute({
    method: "GET",
    path: `${TENANT}/scope-report`,
    operationId: "getScopeReport",
    summary: "Keys holding scopes they did not exercise, and keys not used",
    description: `The tenant's active keys, newest first, a page of \`limit\` at a time: those holding a scope no request was judged by within the window, and those not used at all in it. A page lists only the keys of its page that have a finding, so it may hold fewer than \`limit\`; follow the cursor to the end. ${CANNOT_KNOW}`,
    tag: "Governance",
    credential: "management",
    role: "viewer",
    audit: "scope_usage",
    query: z.object({ ...pageQueryFields, days }),
    responses: {
      200: { description: "The findings of one page of keys, and the window.", schema: scopeReportSchema, headers: PAGE_HEADERS },
    },
    async handle({ env, ctx, url, query }) {
      const window = windowOf(query.days ?? DEFAULT_WINDOW_DAYS, ctx.now);
      const limit = query.limit ?? DEFAULT_PAGE_LIMIT;
      const rows = await listKeyRows(database(env.DB), {
        tenant: ctx.tenant,
        limit: limit + 1,
        beforeSeq: query.cursor,
        status: "active",
        now: ctx.now,
      });
      const page = rows.slice(0, limit);
      const recorded = await recordedUsage(
        env.DB,
        page.map((k) => k.id),
        window.from,
      );
      const keys = page.flatMap((k) => reportEntry(k, recorded.get(k.id) ?? [], window) ?? []);
      const last = page[page.length - 1];
      return jsonResponse({ window, keys }, 200, nextPageHeaders(url, rows.length > limit && last ? last.seq : null));
    },
  }),
  managementRoute({
    method: "POST",
    path: `${TENANT}/api-keys/{id}/narrow`,
    operationId: "narrowApiKey",
    summary: "Rotate a key to the scopes it exercised",
    description: `A rotation (the replacement shown once, the old key working through the grace period) whose scopes are the key's \`exercised_scopes\` within the window (GET .../scope-usage shows them first). Refused with 409 when the key exercised no scope in the window: narrowing to nothing is revoking. ${CANNOT_KNOW}`,
    tag: "Governance",
    credential: "management",
    role: "operator",
    audit: "narrow",
    body: {
      schema: () =>
        z.strictObject(
          {
            days,
            grace_period_seconds: z.optional(
              boundedInt("grace_period_seconds", 0, GRACE_PERIOD_MAX_SECONDS).check(
                z.describe(`How long the old key keeps working. Default ${DEFAULT_GRACE_PERIOD_SECONDS}.`),
              ),
            ),
          },
          { error: "the request body must be a JSON object" },
        ),
      required: false,
      example: { days: 30, grace_period_seconds: 86400 },
    },
    responses: { 201: { description: "The replacement key, with `api_key` shown once.", schema: createdKeyViewSchema } },
    errors: ["conflict"],
    async handle({ env, ctx, keyId, body }) {
      const deps = await serviceDeps(env);
      const key = await getKey(deps, ctx.tenant, keyId);
      const window = windowOf(body?.days ?? DEFAULT_WINDOW_DAYS, ctx.now);
      const recorded = (await recordedUsage(env.DB, [keyId], window.from)).get(keyId) ?? [];
      // A scope the catalog no longer has cannot be granted again: it is dropped, as a rotation would refuse it.
      const catalog = scopeCatalog(env);
      const exercised = usageOfScopes(key.scopes, recorded).exercised.filter((s) => inCatalog(catalog, s));
      if (exercised.length === 0) {
        throw new ApiError(
          "conflict",
          `The key exercised none of its scopes in the last ${window.days} days; narrowing it would leave it none: revoke it instead, or choose a longer window`,
        );
      }
      return jsonResponse(
        await rotateKey(deps, ctx, keyId, { scopes: exercised, grace_period_seconds: body?.grace_period_seconds }, "narrow"),
        201,
      );
    },
  }),
];
