/**
 * Token introspection (RFC 7662) for origins that want the current truth about a key: D1, the
 * source of truth, answers (revocation, rotation cut-off and expiry included), never the edge
 * caches. Anything that is not an active key the caller may see is `{"active": false}` and nothing
 * more (§2.2), so a caller learns nothing about another tenant's keys.
 */
import * as z from "zod/mini";
import { lookUpKey } from "./lookup";
import type { KeyServiceDeps } from "./service";

/** RFC 6749 §7.1: keygate keys are bearer tokens. */
const TOKEN_TYPE = "Bearer";

export const activeIntrospectionSchema = z.strictObject({
  active: z.literal(true),
  scope: z.string().check(z.describe("The key's scopes, space-separated (RFC 7662 §2.2).")),
  client_id: z.string().check(z.describe("The key's id (key-...).")),
  sub: z.string(),
  exp: z.optional(z.int().check(z.describe("Absent for a key that never expires."))),
  iat: z.int(),
  iss: z.string(),
  aud: z.string(),
  token_type: z.literal(TOKEN_TYPE),
  tenant: z.string(),
});

export const introspectionSchema = z
  .union([activeIntrospectionSchema, z.strictObject({ active: z.literal(false) })])
  .register(z.globalRegistry, {
    id: "Introspection",
    description: "RFC 7662 §2.2: an active key's metadata, or only `active: false`.",
  });

export type Introspection = z.output<typeof introspectionSchema>;

const INACTIVE: Introspection = { active: false };

/** What D1 says about `token`, if it is an active key of a tenant `mayIntrospect` admits. */
export async function introspectKey(
  deps: Pick<KeyServiceDeps, "db" | "ring" | "keyConfig">,
  token: string,
  mayIntrospect: (tenant: string) => boolean,
  now: number,
): Promise<Introspection> {
  // Another tenant's key is answered before D1 is asked: the same answer as a forged token.
  const found = await lookUpKey(deps, token, now, (claims) => mayIntrospect(claims.tenant));
  if (found.kind !== "found" || found.status !== "active") return INACTIVE;
  const { row } = found;
  const answer: Introspection = {
    active: true,
    scope: row.scopes.join(" "),
    client_id: row.id,
    sub: row.subject,
    iat: row.createdAt,
    iss: deps.keyConfig.issuer,
    aud: deps.keyConfig.audience,
    token_type: TOKEN_TYPE,
    tenant: row.tenantId,
  };
  if (row.expiresAt !== null) answer.exp = row.expiresAt;
  return answer;
}
