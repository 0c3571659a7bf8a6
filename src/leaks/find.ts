/**
 * Which reported tokens are keys of this deployment, and which of those are live. The key itself
 * is the evidence: a token counts only with a valid signature of this deployment's signing ring
 * (and its typ, issuer and audience); then D1, the source of truth, must know the key (same tenant,
 * id and jti) and find it active. A batch costs one D1 round trip whatever its size.
 */
import type { ApiKeyRow } from "../db/schema";
import { lookUpKeys } from "../keys/lookup";
import type { KeyServiceDeps } from "../keys/service";

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
  for (const token of unique) if (token.length > MAX_TOKEN_LENGTH) findings.set(token, FOREIGN);
  const lookups = await lookUpKeys(
    deps,
    unique.filter((token) => !findings.has(token)),
    now,
  );
  for (const [token, found] of lookups) {
    // An expired key verified up to its expiry (jose checks exp last): ours, and dead. A key signed
    // by this deployment but unknown to D1 (or another jti) cannot be used either.
    if (found.kind === "unverified") findings.set(token, found.reason === "expired" ? INACTIVE : FOREIGN);
    else findings.set(token, found.kind === "found" && found.status === "active" ? { kind: "live", row: found.row } : INACTIVE);
  }
  return findings;
}
