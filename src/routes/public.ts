/** Unauthenticated control-plane endpoints: the JWKS, the scope catalog and health (the OpenAPI document is in table.ts). */
import * as z from "zod/mini";
import { assertionJwks } from "../auth/identity-assertion";
import { signingKeys } from "../auth/signing-keys";
import { scopeCatalog } from "../config/keys";
import { jsonResponse } from "../http/responses";
import { publicRoute } from "./spec";

/** Origins cache the JWKS; a new signing key must be published at least this long before it signs. */
export const JWKS_MAX_AGE_SECONDS = 300;
const SCOPES_MAX_AGE_SECONDS = 60;

const jwkSchema = z.looseObject({ kty: z.string(), kid: z.string(), alg: z.string(), use: z.string() });

export const publicRoutes = [
  publicRoute({
    method: "GET",
    path: "/.well-known/jwks.json",
    operationId: "getJwks",
    summary: "Public keys that verify API keys and identity assertions (RFC 7517)",
    description: `Cacheable for ${JWKS_MAX_AGE_SECONDS} s. Origins verifying keys themselves should select the key by \`kid\`. The RS256 keys sign API keys; with IDENTITY_ASSERTION = "jwt", an Ed25519 key (alg EdDSA, listed last) signs identity assertions.`,
    tag: "Public",
    credential: "none",
    role: "public",
    responses: { 200: { description: "A JWK set.", schema: z.strictObject({ keys: z.array(jwkSchema) }) } },
    async handle({ env }) {
      const ring = await signingKeys(env.SIGNING_KEYS);
      // Assertion keys go last: clients that take the first signing key (the seed's Flask example) get an RS256 key.
      return jsonResponse({ keys: [...ring.jwks.keys, ...assertionJwks(env)] }, 200, {
        "cache-control": `public, max-age=${JWKS_MAX_AGE_SECONDS}`,
      });
    },
  }),
  publicRoute({
    method: "GET",
    path: "/api/v1/scopes",
    operationId: "getScopeCatalog",
    summary: "The scope catalog: scope -> description",
    description: `Every scope an API key of this deployment may hold (SCOPE_CATALOG), with what it grants. Cacheable for ${SCOPES_MAX_AGE_SECONDS} s.`,
    tag: "Public",
    credential: "none",
    role: "public",
    responses: {
      200: {
        description: "Every scope a key may hold.",
        schema: z.record(z.string(), z.string()),
        example: { "api:read": "Read API resources", "api:write": "Create/update API resources" },
      },
    },
    handle({ env }) {
      return jsonResponse(Object.fromEntries(scopeCatalog(env)), 200, { "cache-control": `public, max-age=${SCOPES_MAX_AGE_SECONDS}` });
    },
  }),
  publicRoute({
    method: "GET",
    path: "/_keygate/health",
    operationId: "getHealth",
    summary: "Liveness",
    description: "Answers while the worker serves requests; it checks no binding, so a failing database does not fail it.",
    tag: "Public",
    credential: "none",
    role: "public",
    responses: { 200: { description: "keygate is serving.", schema: z.strictObject({ status: z.literal("ok") }) } },
    handle() {
      return jsonResponse({ status: "ok" });
    },
  }),
];
