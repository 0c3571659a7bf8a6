/**
 * The signing key ring: the SIGNING_KEYS secret is a private JWK set; the first key signs new API
 * keys, every key verifies, and every key's public half is published at /.well-known/jwks.json.
 * Imported CryptoKeys are cached per isolate (importing an RSA key costs far more than a verify).
 * The ring imports public keys only: that is all the data plane needs, so an isolate's first
 * gateway request pays no private-key import; the active private key is imported the first time
 * something is signed (activePrivateKey), once per ring.
 */
import { importJWK, type JWK } from "jose";
import { ConfigError } from "../errors";

export const API_KEY_ALG = "RS256";
/** RSA keys shorter than this are refused (NIST SP 800-57: 2048 bits minimum). */
const MIN_RSA_MODULUS_BITS = 2048;

export interface SigningKey {
  kid: string;
  publicKey: CryptoKey;
  publicJwk: JWK;
}

export interface SigningKeyRing {
  /** The key that signs new API keys: the first of SIGNING_KEYS. */
  active: SigningKey;
  byKid: ReadonlyMap<string, SigningKey>;
  /** The public JWK set, as served at /.well-known/jwks.json. */
  jwks: { keys: JWK[] };
}

function parseKeySet(raw: string | undefined): JWK[] {
  if (!raw || raw.trim() === "") throw new ConfigError("SIGNING_KEYS is not set (run `npm run dev` to generate dev keys)");
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ConfigError("SIGNING_KEYS is not valid JSON");
  }
  const keys = (parsed as { keys?: unknown })?.keys;
  if (!Array.isArray(keys) || keys.length === 0) throw new ConfigError('SIGNING_KEYS must be a private JWK set: {"keys":[...]}');
  const kids = new Set<string>();
  return keys.map((key: JWK, i) => {
    const where = `SIGNING_KEYS.keys[${i}]`;
    if (key?.kty !== "RSA" || typeof key.n !== "string" || typeof key.e !== "string") throw new ConfigError(`${where} must be an RSA JWK`);
    if (typeof key.d !== "string") throw new ConfigError(`${where} must be a private key`);
    if (typeof key.kid !== "string" || key.kid === "") throw new ConfigError(`${where} needs a kid`);
    if (kids.has(key.kid)) throw new ConfigError(`${where} repeats kid ${key.kid}`);
    if (key.alg !== undefined && key.alg !== API_KEY_ALG) throw new ConfigError(`${where} must have alg ${API_KEY_ALG}`);
    // base64url: 4 characters carry 3 bytes.
    if (Math.floor((key.n.length * 6) / 8) * 8 < MIN_RSA_MODULUS_BITS)
      throw new ConfigError(`${where} is shorter than ${MIN_RSA_MODULUS_BITS} bits`);
    kids.add(key.kid);
    return key;
  });
}

/** The active key's private JWK, and its CryptoKey once imported, per ring. */
const privateKeys = new WeakMap<SigningKeyRing, { jwk: JWK; key?: CryptoKey }>();

async function importRing(raw: string | undefined): Promise<SigningKeyRing> {
  const jwks = parseKeySet(raw);
  const keys = await Promise.all(
    jwks.map(async (jwk): Promise<SigningKey> => {
      const kid = jwk.kid as string;
      const publicJwk: JWK = { kty: "RSA", n: jwk.n, e: jwk.e, kid, alg: API_KEY_ALG, use: "sig" };
      try {
        return { kid, publicKey: (await importJWK(publicJwk, API_KEY_ALG)) as CryptoKey, publicJwk };
      } catch {
        throw new ConfigError(`SIGNING_KEYS key ${kid} could not be imported as an ${API_KEY_ALG} key`);
      }
    }),
  );
  const ring = {
    active: keys[0] as SigningKey,
    byKid: new Map(keys.map((k) => [k.kid, k])),
    jwks: { keys: keys.map((k) => k.publicJwk) },
  };
  privateKeys.set(ring, { jwk: jwks[0] as JWK });
  return ring;
}

/** The active key's private CryptoKey (what signs new API keys), imported the first time it is needed. */
export async function activePrivateKey(ring: SigningKeyRing): Promise<CryptoKey> {
  const entry = privateKeys.get(ring);
  if (entry === undefined) throw new ConfigError("the signing key ring was not made by signingKeys()");
  if (entry.key === undefined) {
    try {
      entry.key = (await importJWK({ ...entry.jwk, alg: API_KEY_ALG }, API_KEY_ALG)) as CryptoKey;
    } catch {
      throw new ConfigError(`SIGNING_KEYS key ${ring.active.kid} could not be imported as an ${API_KEY_ALG} private key`);
    }
  }
  return entry.key;
}

/** The last imported ring, as a resolved value (see fetchEdgeState on why never a promise). */
let cached: { raw: string | undefined; ring: SigningKeyRing } | undefined;

/** The ring for this SIGNING_KEYS value if this isolate has imported it already. */
export function loadedSigningKeys(raw: string | undefined): SigningKeyRing | undefined {
  return cached !== undefined && cached.raw === raw ? cached.ring : undefined;
}

/**
 * The key ring for this SIGNING_KEYS value, imported once per isolate. Requests that arrive
 * before the first import finishes import it themselves rather than await another request's work.
 */
export async function signingKeys(raw: string | undefined): Promise<SigningKeyRing> {
  const loaded = loadedSigningKeys(raw);
  if (loaded) return loaded;
  const ring = await importRing(raw);
  cached = { raw, ring };
  return ring;
}
