/**
 * Per-isolate cache of verified API keys, so a busy key costs one RS256 verify per isolate rather
 * than one per request (~30 us each inside workerd).
 *
 * Keyed by the whole token string: any change to header, payload or signature is a different key
 * and goes through full verification. An entry never outlives the key's `exp`, nor the key ring it
 * was verified with. Revocation is not cached here: the gateway checks it on every request.
 */
import { type ApiKeyClaims, type ApiKeyVerification, verifyApiKey } from "../auth/api-key-token";
import type { SigningKeyRing } from "../auth/signing-keys";
import type { KeyConfig } from "../config";

/** How long a verification is trusted when the key itself lives longer. */
const VERIFIED_TTL_MS = 5 * 60_000;
/** Bound on entries; the oldest go first. ~1 KiB per entry. */
const MAX_ENTRIES = 10_000;

interface Entry {
  claims: ApiKeyClaims;
  validUntilMs: number;
}

let cacheRing: SigningKeyRing | undefined;
let cacheConfig: KeyConfig | undefined;
const verified = new Map<string, Entry>();

export async function verifyApiKeyCached(
  token: string,
  ring: SigningKeyRing,
  config: KeyConfig,
  nowMs: number,
): Promise<ApiKeyVerification> {
  if (ring !== cacheRing || config !== cacheConfig) {
    verified.clear();
    cacheRing = ring;
    cacheConfig = config;
  }
  const hit = verified.get(token);
  if (hit) {
    if (hit.validUntilMs > nowMs) return { ok: true, claims: hit.claims };
    verified.delete(token);
  }
  const result = await verifyApiKey(token, ring, config, Math.floor(nowMs / 1000));
  if (result.ok) {
    const expMs = result.claims.exp === undefined ? Number.POSITIVE_INFINITY : result.claims.exp * 1000;
    verified.set(token, { claims: result.claims, validUntilMs: Math.min(nowMs + VERIFIED_TTL_MS, expMs) });
    if (verified.size > MAX_ENTRIES) {
      const oldest = verified.keys().next().value;
      if (oldest !== undefined) verified.delete(oldest);
    }
  }
  return result;
}

/** Test seam: forget every cached verification. */
export function clearVerifyCache(): void {
  verified.clear();
}
