/**
 * API keys are JWTs: RS256, `kid` in the header, claims sub, scopes, key_id, tenant, iss, aud,
 * iat, exp (absent for non-expiring keys) and jti. This file is the only place that signs or
 * verifies them.
 *
 * Explicit typing (RFC 8725 §3.11): the protected header is `{"typ":"keygate+jwt","alg":"RS256",
 * "kid":"..."}`, in that order. Its 42 bytes before the kid value are a multiple of 3, so they
 * encode to the same 56 base64url characters whatever the kid: every keygate key starts with
 * API_KEY_PREFIX, which secret scanners match (docs/leaks.md "Keys that scanners recognize"). Keys issued
 * before (typ "JWT") keep verifying.
 */
import { errors, type JWTHeaderParameters, jwtVerify, SignJWT } from "jose";
import type { KeyConfig } from "../config/keys";
import type { ApiKeyRefusalReason } from "../vocab/refusals.mjs";
import { API_KEY_ALG, type SigningKeyRing } from "./signing-keys";

/** The `typ` of every key issued now; old keys carry LEGACY_API_KEY_TYP. */
export const API_KEY_TYP = "keygate+jwt";
const LEGACY_API_KEY_TYP = "JWT";
/** The header up to the kid value, in the order `issueApiKey` writes it. */
const HEADER_BEFORE_KID = `{"typ":"${API_KEY_TYP}","alg":"${API_KEY_ALG}","kid":"`;
/** What every key keygate issues starts with (base64url of HEADER_BEFORE_KID, a whole number of 3-byte groups). */
export const API_KEY_PREFIX = btoa(HEADER_BEFORE_KID).replace(/\+/g, "-").replace(/\//g, "_");
/** RSA keys are at least 2048 bits, so signatures are at least 256 bytes: 342 base64url characters. */
const MIN_SIGNATURE_CHARS = 342;
/**
 * The detection pattern for keygate keys (RE2-compatible, so gitleaks and GitHub can use it as is);
 * docs/leaks.md and examples/gitleaks.toml publish it, a test checks both say exactly this.
 */
export const API_KEY_PATTERN = `\\b${API_KEY_PREFIX}[A-Za-z0-9_-]+\\.eyJ[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]{${MIN_SIGNATURE_CHARS},}`;

export interface ApiKeyClaims {
  keyId: string;
  tenant: string;
  sub: string;
  scopes: readonly string[];
  iat: number;
  /** Unix seconds; undefined for a non-expiring key. */
  exp: number | undefined;
  jti: string;
  kid: string;
}

/** Why a presented key was refused. Deliberately coarse: the wire says no more than the seed. */
export type ApiKeyRefusal = Extract<ApiKeyRefusalReason, "expired" | "invalid">;

/** A refusal carries the claims when the signature verified (an expired key): only then do they name a key. */
export type ApiKeyVerification = { ok: true; claims: ApiKeyClaims } | { ok: false; reason: ApiKeyRefusal; claims?: ApiKeyClaims };

export interface IssueApiKeyInput {
  keyId: string;
  tenant: string;
  sub: string;
  scopes: readonly string[];
  iat: number;
  exp: number | null;
  jti: string;
}

export async function issueApiKey(ring: SigningKeyRing, config: KeyConfig, input: IssueApiKeyInput): Promise<string> {
  const jwt = new SignJWT({ scopes: [...input.scopes], key_id: input.keyId, tenant: input.tenant })
    // Field order matters: it is what gives every key the constant API_KEY_PREFIX.
    .setProtectedHeader({ typ: API_KEY_TYP, alg: API_KEY_ALG, kid: ring.active.kid })
    .setSubject(input.sub)
    .setIssuer(config.issuer)
    .setAudience(config.audience)
    .setIssuedAt(input.iat)
    .setJti(input.jti);
  if (input.exp !== null) jwt.setExpirationTime(input.exp);
  return jwt.sign(ring.active.privateKey);
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === "string");
}

/**
 * Verifies signature (only RS256, only a `kid` of the ring), issuer, audience and expiry.
 * `now` (unix seconds) lets callers and tests pin the clock.
 */
export async function verifyApiKey(token: string, ring: SigningKeyRing, config: KeyConfig, now?: number): Promise<ApiKeyVerification> {
  let kid = "";
  try {
    const { payload } = await jwtVerify(
      token,
      (header: JWTHeaderParameters) => {
        // RFC 8725 §3.11: only tokens typed as API keys (or issued before typing) are API keys.
        if (header.typ !== API_KEY_TYP && header.typ !== LEGACY_API_KEY_TYP) throw new errors.JWTInvalid("unexpected typ");
        const key = header.kid === undefined ? undefined : ring.byKid.get(header.kid);
        if (!key) throw new errors.JWKSNoMatchingKey();
        kid = key.kid;
        return key.publicKey;
      },
      {
        algorithms: [API_KEY_ALG],
        issuer: config.issuer,
        audience: config.audience,
        requiredClaims: ["sub", "iat", "jti"],
        currentDate: now === undefined ? undefined : new Date(now * 1000),
      },
    );
    const claims = claimsOf(payload, kid);
    return claims ? { ok: true, claims } : { ok: false, reason: "invalid" };
  } catch (err) {
    // jose checks the signature before the claims: an expired key's payload is authentic.
    if (err instanceof errors.JWTExpired) {
      const claims = claimsOf(err.payload, kid);
      return claims ? { ok: false, reason: "expired", claims } : { ok: false, reason: "expired" };
    }
    if (err instanceof errors.JOSEError) return { ok: false, reason: "invalid" };
    throw err;
  }
}

function claimsOf(payload: Record<string, unknown>, kid: string): ApiKeyClaims | null {
  const { key_id: keyId, tenant, scopes, sub, iat, exp, jti } = payload;
  if (
    typeof keyId !== "string" ||
    typeof tenant !== "string" ||
    !isStringArray(scopes) ||
    typeof sub !== "string" ||
    typeof iat !== "number" ||
    typeof jti !== "string" ||
    (exp !== undefined && typeof exp !== "number")
  ) {
    return null;
  }
  return { keyId, tenant, sub, scopes, iat, exp: exp as number | undefined, jti, kid };
}
