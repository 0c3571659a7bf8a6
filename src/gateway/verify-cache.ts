/**
 * Per-isolate cache of key verifications, so a busy key costs one RS256 verify per isolate rather
 * than one per request (~30 us each inside workerd), and a replayed forged key costs one too.
 *
 * Keyed by the whole token string: any change to header, payload or signature is a different key
 * and goes through full verification. A positive entry never outlives the key's `exp`; no entry
 * outlives the key ring and issuer/audience it was verified with. Revocation is not cached here:
 * the gateway checks it on every request. Entries are resolved values, never promises (workerd
 * forbids one request from finishing another's I/O).
 */
import { type ApiKeyClaims, type ApiKeyRefusal, type ApiKeyVerification, verifyApiKey } from "../auth/api-key-token";
import type { SigningKeyRing } from "../auth/signing-keys";
import type { KeyConfig } from "../config/keys";
import { isolateCache, setBounded } from "../lib/bounded-map";

/** How long a verification is trusted when the key itself lives longer. */
const VERIFIED_TTL_MS = 5 * 60_000;
/** Refusals are permanent for a given ring (bad signature, expired), except a future `nbf`. */
const REFUSED_TTL_MS = 60_000;
/** Bounds on entries; the oldest go first. ~1 KiB per entry. */
const MAX_VERIFIED = 10_000;
const MAX_REFUSED = 2_000;

interface Verified {
  claims: ApiKeyClaims;
  validUntilMs: number;
}

/** A refusal remembered for REFUSED_TTL_MS (the gateway's verdict is `Refused`, src/gateway/verdict.ts). */
interface CachedRefusal {
  reason: ApiKeyRefusal;
  /** An expired key's claims (its signature verified). */
  claims: ApiKeyClaims | undefined;
  validUntilMs: number;
}

let cacheRing: SigningKeyRing | undefined;
let cacheConfig: KeyConfig | undefined;
const verified = isolateCache<string, Verified>("verified-keys", MAX_VERIFIED);
const refused = isolateCache<string, CachedRefusal>("refused-keys", MAX_REFUSED);

function sameTrust(ring: SigningKeyRing, config: KeyConfig): void {
  if (ring !== cacheRing || config !== cacheConfig) {
    verified.clear();
    refused.clear();
    cacheRing = ring;
    cacheConfig = config;
  }
}

/** The cached outcome for this token, or undefined when it must be verified. Synchronous. */
export function cachedVerification(token: string, ring: SigningKeyRing, config: KeyConfig, nowMs: number): ApiKeyVerification | undefined {
  sameTrust(ring, config);
  const hit = verified.get(token);
  if (hit !== undefined) {
    if (hit.validUntilMs > nowMs) return { ok: true, claims: hit.claims };
    verified.delete(token);
  }
  const miss = refused.get(token);
  if (miss !== undefined) {
    if (miss.validUntilMs > nowMs) return { ok: false, reason: miss.reason, claims: miss.claims };
    refused.delete(token);
  }
  return undefined;
}

/** Verifies the token and caches the outcome. */
export async function verifyAndCache(token: string, ring: SigningKeyRing, config: KeyConfig, nowMs: number): Promise<ApiKeyVerification> {
  const result = await verifyApiKey(token, ring, config, Math.floor(nowMs / 1000));
  sameTrust(ring, config);
  if (result.ok) {
    const expMs = result.claims.exp === undefined ? Number.POSITIVE_INFINITY : result.claims.exp * 1000;
    setBounded(verified, token, { claims: result.claims, validUntilMs: Math.min(nowMs + VERIFIED_TTL_MS, expMs) }, MAX_VERIFIED);
  } else {
    setBounded(refused, token, { reason: result.reason, claims: result.claims, validUntilMs: nowMs + REFUSED_TTL_MS }, MAX_REFUSED);
  }
  return result;
}
