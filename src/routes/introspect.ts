/** RFC 7662 token introspection as a route-table entry (the answer comes from src/keys/introspection.ts). */
import * as z from "zod/mini";
import { roleOf } from "../auth/principal";
import { jsonResponse } from "../http/responses";
import { tokenField } from "../http/validate";
import { introspectionSchema, introspectKey } from "../keys/introspection";
import { type Role, roleAllows } from "../vocab/roles.mjs";
import { serviceDeps } from "./deps";
import { introspectionRoute } from "./spec";

/** A user introspects keys of the tenants where it holds at least this role. */
const INTROSPECTION_ROLE: Role = "viewer";

// RFC 7662 §2.1: `token`, and an optional `token_type_hint`; other parameters are ignored, as the
// RFC lets servers define their own.
const introspectionRequest = z.looseObject(
  {
    token: tokenField("The API key to introspect."),
    token_type_hint: z.optional(
      z.string({ error: "token_type_hint must be a string" }).check(z.describe("Ignored: keygate has one kind of token.")),
    ),
  },
  { error: "the request body must be an object of form fields (or JSON)" },
);

export const introspectionRoutes = [
  introspectionRoute({
    method: "POST",
    path: "/api/v1/introspect",
    operationId: "introspectToken",
    summary: "Is this API key active? (RFC 7662)",
    description:
      'For origins that want the current truth: answered from D1, revocation, rotation and expiry included. The caller presents its own credential as `Authorization: Bearer` (RFC 7662 §2.1 lets the server choose): an API key holding keys:introspect or keys:manage sees keys of its own tenant, a user token those of its tenants where it holds at least the viewer role. Any other token, including another tenant\'s key, is `{"active": false}`.',
    tag: "Introspection",
    credential: "introspection",
    role: INTROSPECTION_ROLE,
    body: {
      schema: () => introspectionRequest,
      required: true,
      mediaTypes: ["application/x-www-form-urlencoded", "application/json"],
      example: { token: "eyJ0eXAiOiJrZXlnYXRlK2p3dCIsImFsZyI6IlJTMjU2Iiwia2lkIjoi..." },
    },
    responses: {
      200: {
        description: "The key's metadata when it is active, else only `active: false`.",
        schema: introspectionSchema,
        example: {
          active: true,
          scope: "api:read deploy:production",
          client_id: "key-550e8400-e29b-41d4-a716-446655440000",
          sub: "user-123",
          exp: 1713192000,
          iat: 1705416000,
          iss: "https://keygate.example.com",
          aud: "your-api",
          token_type: "Bearer",
          tenant: "my-tenant",
        },
      },
    },
    async handle({ env, body, caller, now }) {
      const mayIntrospect = (tenant: string) =>
        caller.kind === "user"
          ? caller.tenants.has(tenant) && roleAllows(roleOf(caller, tenant), INTROSPECTION_ROLE)
          : caller.tenant === tenant;
      return jsonResponse(await introspectKey(await serviceDeps(env), body.token, mayIntrospect, now));
    },
  }),
];
