/** The key-lifecycle endpoints of the seed contract (and rotation), as route-table entries. */
import * as z from "zod/mini";
import { DEFAULT_PAGE_LIMIT, nextPageHeaders, PAGE_HEADERS, pageQueryFields } from "../http/pagination";
import { jsonResponse } from "../http/responses";
import { boundedInt, oneOf } from "../http/validate";
import { requestSchemas } from "../keys/requests";
import { createKey, getKey, listKeys, revokeKey, rotateKey, updateKey } from "../keys/service";
import { createdKeyViewSchema, keyViewSchema } from "../keys/views";
import { counterNamespace, withQuotaState } from "../ratelimit/quota-service";
import { KEY_STATUSES } from "../vocab/key-status.mjs";
import { serviceDeps } from "./deps";
import { managementRoute } from "./spec";

const KEYS = "/api/v1/tenant/{tenant}/api-keys";
/** 100 years: "unused for more than N days" beyond that means "never used". */
const MAX_UNUSED_DAYS = 36_500;

/** The seed's examples, verbatim: the document shows them and the security tests send them. */
const SEED_CREATE_BODY = { name: "CI/CD Pipeline Key", scopes: ["api:read", "api:write", "deploy:production"], expires_in_days: 90 };
const SEED_CREATED_KEY = {
  id: "key-550e8400-e29b-41d4-a716-446655440000",
  name: "CI/CD Pipeline Key",
  api_key:
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImFwaS1rZXktMSJ9.eyJzdWIiOiJ1c2VyLTEyMyIsInNjb3BlcyI6WyJhcGk6cmVhZCIsImFwaTp3cml0ZSIsImRlcGxveTpwcm9kdWN0aW9uIl0sImtleV9pZCI6ImtleS01NTBlODQwMC1lMjliLTQxZDQtYTcxNi00NDY2NTU0NDAwMDAiLCJpc3MiOiJodHRwczovL2F1dGguZXhhbXBsZS5jb20iLCJpYXQiOjE3MDU0MTYwMDAsImV4cCI6MTcxMzE5MjAwMH0.signature",
  scopes: ["api:read", "api:write", "deploy:production"],
  created_at: 1705416000,
  expires_at: 1713192000,
  last_used: null,
  revoked: false,
};
const SEED_KEY_LIST = [
  {
    id: "key-550e8400-e29b-41d4-a716-446655440000",
    name: "CI/CD Pipeline Key",
    scopes: ["api:read", "api:write", "deploy:production"],
    created_at: 1705416000,
    expires_at: 1713192000,
    last_used: 1705500000,
    revoked: false,
  },
  {
    id: "key-7c9e6679-7425-40de-944b-e07fc1f90ae7",
    name: "Development Key",
    scopes: ["api:read"],
    created_at: 1705330000,
    expires_at: 1712106000,
    last_used: null,
    revoked: false,
  },
];
export const REVOKED_MESSAGE = { success: true, message: "API key revoked successfully" } as const;

const successSchema = z.strictObject({ success: z.literal(true), message: z.string() });

const listQuery = z.object({
  ...pageQueryFields,
  status: z.optional(oneOf("status", KEY_STATUSES)),
  unused_days: z.optional(
    boundedInt("unused_days", 0, MAX_UNUSED_DAYS).check(z.describe("Only keys never used, or last used more than this many days ago.")),
  ),
});

export const keyRoutes = [
  managementRoute({
    method: "POST",
    path: `${KEYS}/create`,
    operationId: "createApiKey",
    summary: "Create an API key",
    description: "The plaintext `api_key` is in this response only; keygate stores its metadata, never the key.",
    tag: "API keys",
    credential: "management",
    role: "operator",
    audit: "create",
    body: { schema: (catalog) => requestSchemas(catalog).create, required: true, example: SEED_CREATE_BODY },
    responses: { 201: { description: "The new key, with `api_key` shown once.", schema: createdKeyViewSchema, example: SEED_CREATED_KEY } },
    async handle({ env, ctx, body }) {
      return jsonResponse(await createKey(await serviceDeps(env), ctx, body), 201);
    },
  }),
  managementRoute({
    method: "GET",
    path: `${KEYS}/list`,
    operationId: "listApiKeys",
    summary: "List API keys, newest first",
    description: `Pages of at most \`limit\` (default ${DEFAULT_PAGE_LIMIT}) keys; the next page's cursor is in the headers.`,
    tag: "API keys",
    credential: "management",
    role: "viewer",
    audit: "list",
    query: listQuery,
    responses: {
      200: { description: "The seed's bare array of keys.", schema: z.array(keyViewSchema), example: SEED_KEY_LIST, headers: PAGE_HEADERS },
    },
    async handle({ env, ctx, url, query }) {
      const result = await listKeys(await serviceDeps(env), ctx.tenant, {
        limit: query.limit ?? DEFAULT_PAGE_LIMIT,
        beforeSeq: query.cursor,
        status: query.status,
        unusedDays: query.unused_days,
        now: ctx.now,
      });
      return jsonResponse(result.keys, 200, nextPageHeaders(url, result.nextSeq));
    },
  }),
  managementRoute({
    method: "POST",
    path: `${KEYS}/{id}/revoke`,
    operationId: "revokeApiKey",
    summary: "Revoke an API key",
    description: "Idempotent: revoking again keeps the first time, actor and reason.",
    tag: "API keys",
    credential: "management",
    role: "operator",
    audit: "revoke",
    body: { schema: (catalog) => requestSchemas(catalog).revoke, required: false, example: { reason: "leaked in a build log" } },
    responses: { 200: { description: "The seed's confirmation.", schema: successSchema, example: REVOKED_MESSAGE } },
    async handle({ env, ctx, keyId, body }) {
      await revokeKey(await serviceDeps(env), ctx, keyId, body?.reason ?? null);
      return jsonResponse(REVOKED_MESSAGE);
    },
  }),
  managementRoute({
    method: "POST",
    path: `${KEYS}/{id}/rotate`,
    operationId: "rotateApiKey",
    summary: "Rotate an API key",
    description: "Issues a replacement (shown once); the old key keeps working for the grace period.",
    tag: "API keys",
    credential: "management",
    role: "operator",
    audit: "rotate",
    body: { schema: (catalog) => requestSchemas(catalog).rotate, required: false, example: { grace_period_seconds: 86400 } },
    responses: { 201: { description: "The replacement key, with `api_key` shown once.", schema: createdKeyViewSchema } },
    errors: ["conflict"],
    async handle({ env, ctx, keyId, body }) {
      return jsonResponse(await rotateKey(await serviceDeps(env), ctx, keyId, body ?? {}), 201);
    },
  }),
  managementRoute({
    method: "GET",
    path: `${KEYS}/{id}`,
    operationId: "getApiKey",
    summary: "Get one API key's metadata",
    description: "Never the key itself: keygate does not store it. A key of another tenant is not found.",
    tag: "API keys",
    credential: "management",
    role: "viewer",
    audit: "get",
    methodHint: "revoke with POST .../revoke",
    responses: { 200: { description: "The key.", schema: keyViewSchema, example: SEED_KEY_LIST[0] } },
    async handle({ env, ctx, keyId }) {
      // Issue 19: a key with a quota shows what remains of it (asked of its counter).
      return jsonResponse(
        await withQuotaState(counterNamespace(env.RATE_LIMITER), await getKey(await serviceDeps(env), ctx.tenant, keyId), Date.now()),
      );
    },
  }),
  managementRoute({
    method: "PATCH",
    path: `${KEYS}/{id}`,
    operationId: "updateApiKey",
    summary: "Change an API key's name or metadata",
    description: "Scopes cannot change in place: rotate the key with new scopes.",
    tag: "API keys",
    credential: "management",
    role: "operator",
    audit: "update",
    body: { schema: (catalog) => requestSchemas(catalog).update, required: true, example: { name: "Renamed key" } },
    responses: { 200: { description: "The key as changed.", schema: keyViewSchema } },
    async handle({ env, ctx, keyId, body }) {
      return jsonResponse(await updateKey(await serviceDeps(env), ctx, keyId, body));
    },
  }),
];
