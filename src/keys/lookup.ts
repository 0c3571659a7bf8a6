/**
 * What D1, the source of truth, says about presented API keys: verify the signature (ring, typ,
 * issuer, audience), find the row (same tenant and id), check its jti (a key re-issued under the
 * same id is another key), and read its status. The management API's key principal, token
 * introspection and leak reports all ask here; a batch costs one D1 round trip whatever its size.
 */
import { type ApiKeyClaims, type ApiKeyRefusal, verifyApiKey } from "../auth/api-key-token";
import type { SigningKeyRing } from "../auth/signing-keys";
import type { KeyConfig } from "../config/keys";
import type { Db } from "../db/client";
import { findKey, findKeys } from "../db/keys-repo";
import type { ApiKeyRow } from "../db/schema";
import { type KeyStatus, keyStatus } from "../vocab/key-status.mjs";

export type KeyLookup =
  /** Not a key of this deployment (or one past its `exp`: jose checks exp last, so it is ours and dead). */
  | { kind: "unverified"; reason: ApiKeyRefusal }
  /** Signed by this deployment but not admitted by the caller: D1 was not asked. */
  | { kind: "not_admitted"; claims: ApiKeyClaims }
  /** Signed by this deployment but unknown to D1 (or another jti): it cannot be used. */
  | { kind: "unknown"; claims: ApiKeyClaims }
  | { kind: "found"; claims: ApiKeyClaims; row: ApiKeyRow; status: KeyStatus };

export interface KeyLookupDeps {
  db: Db;
  ring: SigningKeyRing;
  keyConfig: KeyConfig;
}

/**
 * Each distinct token of `tokens`, looked up at `now`. `admit` decides, before D1 is asked, which
 * verified keys the caller may learn about (introspection: its own tenant's).
 */
export async function lookUpKeys(
  deps: KeyLookupDeps,
  tokens: readonly string[],
  now: number,
  admit: (claims: ApiKeyClaims) => boolean = () => true,
): Promise<Map<string, KeyLookup>> {
  const lookups = new Map<string, KeyLookup>();
  const unique = [...new Set(tokens)];
  const verified = await Promise.all(unique.map((token) => verifyApiKey(token, deps.ring, deps.keyConfig, now)));
  const genuine: { token: string; claims: ApiKeyClaims }[] = [];
  unique.forEach((token, i) => {
    const result = verified[i]!;
    if (!result.ok) lookups.set(token, { kind: "unverified", reason: result.reason });
    else if (!admit(result.claims)) lookups.set(token, { kind: "not_admitted", claims: result.claims });
    else genuine.push({ token, claims: result.claims });
  });
  const [single] = genuine;
  const rows =
    genuine.length === 1 && single
      ? [await findKey(deps.db, single.claims.tenant, single.claims.keyId)].filter((row) => row !== undefined)
      : await findKeys(
          deps.db,
          genuine.map(({ claims }) => ({ tenant: claims.tenant, id: claims.keyId })),
        );
  const byRef = new Map(rows.map((row) => [`${row.tenantId}\n${row.id}`, row]));
  for (const { token, claims } of genuine) {
    const row = byRef.get(`${claims.tenant}\n${claims.keyId}`);
    lookups.set(
      token,
      row && row.jti === claims.jti ? { kind: "found", claims, row, status: keyStatus(row, now) } : { kind: "unknown", claims },
    );
  }
  return lookups;
}

/** One token: `lookUpKeys` of one. */
export async function lookUpKey(
  deps: KeyLookupDeps,
  token: string,
  now: number,
  admit?: (claims: ApiKeyClaims) => boolean,
): Promise<KeyLookup> {
  return (await lookUpKeys(deps, [token], now, admit)).get(token)!;
}
