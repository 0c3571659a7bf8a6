/**
 * Signed identity for the origin (IDENTITY_ASSERTION = "jwt"). The X-Keygate-* identity headers
 * can only be trusted while the origin is reachable through keygate alone; an assertion can be
 * trusted anyway: a short-lived EdDSA JWT in X-Keygate-Assertion binding who (key id, tenant,
 * scopes, subject) to what (method and path, as the origin receives them) for one origin (`aud`),
 * which the origin verifies offline with keygate's JWKS (the key has its own kid there). The
 * gateway signs assertions and sends them in X-Keygate-Assertion (gateway/origin-headers.ts); the
 * public plane publishes the keys (routes/public.ts): both use this module, below both planes.
 *
 * Off (the default), the gateway pays one WeakMap lookup per request. On, the cost is kept small:
 * Ed25519 (a fraction of an RSA signature), the private key imported once per isolate, the header
 * segment precomputed, and an assertion reused for the same key, method and path within the same
 * second. Ed25519 signatures are deterministic (RFC 8032 §5.1.6), so a reused assertion is exactly
 * the bytes signing again would give: the binding to the request is not weakened.
 */
import { keyConfig } from "../config/keys";
import { originUrl } from "../config/origin";
import { enumVar, perEnv, required, text } from "../config/read";
import type { Env } from "../env";
import { ConfigError } from "../errors";
import { isolateCache, setBounded } from "../lib/bounded-map";
import type { Identity } from "../vocab/headers.mjs";

/** RFC 8725 §3.11: typed, so no verifier can take it for an API key (nor an API key for it). */
export const ASSERTION_TYP = "keygate-identity+jwt";
export const ASSERTION_ALG = "EdDSA";
/** Lifetime of an assertion: it travels from keygate to the origin once, at once. */
export const ASSERTION_TTL_SECONDS = 60;
const MAX_CACHED_ASSERTIONS = 4096;

interface AssertionKey {
  kid: string;
  /** The private JWK (OKP, Ed25519). */
  jwk: JsonWebKey;
}

interface AssertionConfig {
  /** The first key signs; every key is published. */
  keys: AssertionKey[];
  issuer: string;
  audience: string;
  /** ORIGIN_URL's own path, which the origin sees in front of the client's path. */
  originPathPrefix: string;
  /** base64url of the protected header: the same for every assertion. */
  headerSegment: string;
}

type WithToBase64 = Uint8Array & { toBase64?(options: { alphabet: "base64url"; omitPadding: boolean }): string };

/** base64url without padding. Uint8Array#toBase64 (in workerd) is 5x faster than btoa over a binary string. */
function base64url(bytes: Uint8Array): string {
  const native = (bytes as WithToBase64).toBase64;
  if (native) return native.call(bytes, { alphabet: "base64url", omitPadding: true });
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

const encoder = new TextEncoder();

function parseKeys(raw: string | undefined): AssertionKey[] {
  if (!raw || raw.trim() === "") {
    throw new ConfigError(
      'IDENTITY_ASSERTION_KEYS is not set (IDENTITY_ASSERTION = "jwt" needs it; `npm run -s keys:new -- --identity` makes one)',
    );
  }
  let keys: unknown;
  try {
    keys = (JSON.parse(raw) as { keys?: unknown })?.keys;
  } catch {
    throw new ConfigError("IDENTITY_ASSERTION_KEYS is not valid JSON");
  }
  if (!Array.isArray(keys) || keys.length === 0) throw new ConfigError('IDENTITY_ASSERTION_KEYS must be a private JWK set: {"keys":[...]}');
  return keys.map((jwk: JsonWebKey & { kid?: unknown }, i) => {
    const where = `IDENTITY_ASSERTION_KEYS.keys[${i}]`;
    if (jwk?.kty !== "OKP" || jwk.crv !== "Ed25519" || typeof jwk.x !== "string")
      throw new ConfigError(`${where} must be an Ed25519 (OKP) JWK`);
    if (typeof jwk.d !== "string") throw new ConfigError(`${where} must be a private key`);
    if (typeof jwk.kid !== "string" || jwk.kid === "") throw new ConfigError(`${where} needs a kid`);
    return { kid: jwk.kid, jwk };
  });
}

/** The assertion settings, or null when IDENTITY_ASSERTION is off. */
const assertionConfig = perEnv((env): AssertionConfig | null => {
  if (enumVar(env, "IDENTITY_ASSERTION") === "off") return null;
  const keys = parseKeys(text(env, "IDENTITY_ASSERTION_KEYS"));
  const origin = originUrl(env);
  const originPathPrefix = origin.pathname.replace(/\/+$/, "");
  const audience = text(env, "IDENTITY_ASSERTION_AUDIENCE") ?? required(env, "ORIGIN_URL").replace(/\/+$/, "");
  const header = JSON.stringify({ typ: ASSERTION_TYP, alg: ASSERTION_ALG, kid: (keys[0] as AssertionKey).kid });
  return { keys, issuer: keyConfig(env).issuer, audience, originPathPrefix, headerSegment: base64url(encoder.encode(header)) };
});

/** The public keys to publish in /.well-known/jwks.json (none while off; a broken setting is logged, never breaks the JWKS). */
export function assertionJwks(env: Env): JsonWebKey[] {
  let config: AssertionConfig | null;
  try {
    config = assertionConfig(env);
  } catch (err) {
    console.error(`keygate configuration error: ${(err as Error).message}`);
    return [];
  }
  return (config?.keys ?? []).map(
    ({ kid, jwk }) => ({ kty: "OKP", crv: "Ed25519", x: jwk.x, kid, alg: ASSERTION_ALG, use: "sig" }) as JsonWebKey,
  );
}

/** The signing key per config: a resolved value, imported by the first request that needs it. */
const signingKeys = new WeakMap<AssertionConfig, CryptoKey>();

async function signingKey(config: AssertionConfig): Promise<CryptoKey> {
  let key = signingKeys.get(config);
  if (!key) {
    const { jwk, kid } = config.keys[0] as AssertionKey;
    try {
      key = await crypto.subtle.importKey("jwk", { kty: "OKP", crv: "Ed25519", d: jwk.d, x: jwk.x }, { name: "Ed25519" }, false, ["sign"]);
    } catch {
      throw new ConfigError(`IDENTITY_ASSERTION_KEYS key ${kid} could not be imported as an Ed25519 key`);
    }
    signingKeys.set(config, key);
  }
  return key;
}

interface CachedAssertion {
  config: AssertionConfig;
  second: number;
  jwt: string;
}

const recent = isolateCache<string, CachedAssertion>("identity-assertions", MAX_CACHED_ASSERTIONS);

/** True when the gateway must sign an assertion for the origin (IDENTITY_ASSERTION = "jwt"). */
export function assertionsEnabled(env: Env): boolean {
  return assertionConfig(env) !== null;
}

/** The assertion for this request: `path` is the path forwarded to the origin (path-contract.ts), which sees ORIGIN_URL's path in front. */
export async function identityAssertion(env: Env, identity: Identity, method: string, path: string, nowMs: number): Promise<string> {
  const config = assertionConfig(env) as AssertionConfig;
  const now = Math.floor(nowMs / 1000);
  const originPath = config.originPathPrefix + path;
  const cacheKey = `${identity.keyId} ${method} ${originPath}`;
  const cached = recent.get(cacheKey);
  if (cached !== undefined && cached.second === now && cached.config === config) return cached.jwt;
  const claims = {
    iss: config.issuer,
    aud: config.audience,
    sub: identity.sub,
    key_id: identity.keyId,
    tenant: identity.tenant,
    scopes: identity.scopes,
    method,
    path: originPath,
    iat: now,
    exp: now + ASSERTION_TTL_SECONDS,
  };
  const signingInput = `${config.headerSegment}.${base64url(encoder.encode(JSON.stringify(claims)))}`;
  const signature = await crypto.subtle.sign("Ed25519", await signingKey(config), encoder.encode(signingInput));
  const jwt = `${signingInput}.${base64url(new Uint8Array(signature))}`;
  setBounded(recent, cacheKey, { config, second: now, jwt }, MAX_CACHED_ASSERTIONS);
  return jwt;
}
