/**
 * Which reported tokens are keys of this deployment, and which of those are live. The key itself
 * is the evidence: a token counts only with a valid signature of this deployment's signing ring
 * (and its typ, issuer and audience); then D1, the source of truth, must know the key (same tenant,
 * id and jti) and find it active. A batch costs one D1 round trip whatever its size.
 */
import { verifyApiKey } from "../auth/api-key-token";
import { findKeys } from "../db/keys-repo";
import type { ApiKeyRow } from "../db/schema";
import type { KeyServiceDeps } from "../keys/service";
import { keyStatus } from "../vocab/key-status.mjs";

/** Far above any key keygate issues (about 1 KiB); longer "tokens" are not worth a signature check. */
const MAX_TOKEN_LENGTH = 8192;

export type Finding =
  /** Not a key of this deployment: garbage, forged, or another deployment's. */
  | { kind: "foreign" }
  /** A key this deployment issued that can no longer be used: expired, revoked, rotated past its grace period. */
  | { kind: "inactive" }
  /** A key that works right now. */
  | { kind: "live"; row: ApiKeyRow };

const FOREIGN: Finding = { kind: "foreign" };
const INACTIVE: Finding = { kind: "inactive" };

/** What each distinct token of `tokens` is. */
export async function findLeakedKeys(
  deps: Pick<KeyServiceDeps, "db" | "ring" | "keyConfig">,
  tokens: readonly string[],
  now: number,
): Promise<Map<string, Finding>> {
  const findings = new Map<string, Finding>();
  const unique = [...new Set(tokens)];
  const verified = await Promise.all(
    unique.map((token) => (token.length <= MAX_TOKEN_LENGTH ? verifyApiKey(token, deps.ring, deps.keyConfig, now) : null)),
  );
  const genuine: { token: string; tenant: string; id: string; jti: string }[] = [];
  unique.forEach((token, i) => {
    const result = verified[i];
    if (result?.ok) genuine.push({ token, tenant: result.claims.tenant, id: result.claims.keyId, jti: result.claims.jti });
    // An expired key verified up to its expiry (jose checks exp last): ours, and dead.
    else findings.set(token, result?.reason === "expired" ? INACTIVE : FOREIGN);
  });
  const rows = await findKeys(deps.db, genuine);
  const byRef = new Map(rows.map((row) => [`${row.tenantId}\n${row.id}`, row]));
  for (const { token, tenant, id, jti } of genuine) {
    const row = byRef.get(`${tenant}\n${id}`);
    // Signed by this deployment but unknown to D1 (or another jti): it cannot be used either.
    findings.set(token, row && row.jti === jti && keyStatus(row, now) === "active" ? { kind: "live", row } : INACTIVE);
  }
  return findings;
}
