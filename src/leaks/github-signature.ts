/**
 * GitHub secret scanning's partner protocol, the credential half: GitHub POSTs what it found as a
 * JSON array signed with ECDSA P-256 SHA-256 over the raw body bytes; the signature (base64 of an
 * ASN.1 DER ECDSA-Sig-Value) is in Github-Public-Key-Signature and the signing key's id in
 * Github-Public-Key-Identifier. GitHub's public keys (GET https://api.github.com/meta/public_keys/secret_scanning)
 * are configured as GITHUB_SECRET_SCANNING_KEYS in that same format; every listed key verifies
 * (GitHub names the one it used), which carries a deployment through GitHub's key rotations.
 */
import { perEnv } from "../config/read";
import type { Env } from "../env";
import { ApiError, ConfigError } from "../errors";

export const GITHUB_KEY_ID_HEADER = "github-public-key-identifier";
export const GITHUB_SIGNATURE_HEADER = "github-public-key-signature";
/** P-256: r and s are 32 bytes each in WebCrypto's IEEE P1363 form. */
const P256_SCALAR_BYTES = 32;

interface ConfiguredKey {
  id: string;
  spki: Uint8Array;
}

function decodeBase64(text: string): Uint8Array | null {
  try {
    const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/").replace(/\s+/g, ""));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

/** GITHUB_SECRET_SCANNING_KEYS parsed (not yet imported); null when the deployment did not set it. */
const configuredKeys = perEnv((env): ConfiguredKey[] | null => {
  let raw = env.GITHUB_SECRET_SCANNING_KEYS;
  if (raw === undefined || (typeof raw === "string" && raw.trim() === "")) return null;
  if (typeof raw === "string") {
    try {
      raw = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      throw new ConfigError("GITHUB_SECRET_SCANNING_KEYS is not valid JSON");
    }
  }
  const list = (raw as { public_keys?: unknown })?.public_keys;
  if (!Array.isArray(list) || list.length === 0) {
    throw new ConfigError('GITHUB_SECRET_SCANNING_KEYS must be GitHub\'s format: {"public_keys":[{"key_identifier","key"}, ...]}');
  }
  return list.map((entry: { key_identifier?: unknown; key?: unknown }, i) => {
    const where = `GITHUB_SECRET_SCANNING_KEYS.public_keys[${i}]`;
    if (typeof entry?.key_identifier !== "string" || entry.key_identifier === "") throw new ConfigError(`${where} needs a key_identifier`);
    const pem = typeof entry.key === "string" ? /-----BEGIN PUBLIC KEY-----([\s\S]+?)-----END PUBLIC KEY-----/.exec(entry.key) : null;
    const spki = pem ? decodeBase64(pem[1] as string) : null;
    if (!spki) throw new ConfigError(`${where}.key must be a PEM public key`);
    return { id: entry.key_identifier, spki };
  });
});

/** Imported keys per env: resolved values only (see src/lib/bounded-map.ts on why never a promise). */
const importedKeys = new WeakMap<Env, ReadonlyMap<string, CryptoKey>>();

async function gitHubKeys(env: Env): Promise<ReadonlyMap<string, CryptoKey> | null> {
  const configured = configuredKeys(env);
  if (configured === null) return null;
  let keys = importedKeys.get(env);
  if (!keys) {
    const entries = await Promise.all(
      configured.map(async ({ id, spki }): Promise<[string, CryptoKey]> => {
        try {
          return [id, await crypto.subtle.importKey("spki", spki, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"])];
        } catch {
          throw new ConfigError(`GITHUB_SECRET_SCANNING_KEYS key ${id} is not an ECDSA P-256 public key`);
        }
      }),
    );
    keys = new Map(entries);
    importedKeys.set(env, keys);
  }
  return keys;
}

/** ASN.1 DER `SEQUENCE { INTEGER r, INTEGER s }` -> r || s (P1363), or null when it is not one. */
export function derToP1363(der: Uint8Array): Uint8Array | null {
  let at = 0;
  if (der[at++] !== 0x30) return null;
  const length = der[at++];
  // A P-256 signature is at most 72 bytes: its length always has the short form.
  if (length === undefined || length > 0x7f || at + length !== der.length) return null;
  const out = new Uint8Array(2 * P256_SCALAR_BYTES);
  for (const offset of [0, P256_SCALAR_BYTES]) {
    if (der[at++] !== 0x02) return null;
    const size = der[at++];
    if (size === undefined || size < 1 || at + size > der.length) return null;
    let int = der.subarray(at, at + size);
    at += size;
    // DER prefixes a 0x00 when the top bit is set; beyond that a longer integer is not a P-256 scalar.
    while (int.length > P256_SCALAR_BYTES && int[0] === 0) int = int.subarray(1);
    if (int.length > P256_SCALAR_BYTES) return null;
    out.set(int, offset + P256_SCALAR_BYTES - int.length);
  }
  return at === der.length ? out : null;
}

function refuse(description: string): never {
  throw new ApiError("invalid_token", description);
}

/**
 * Verifies that `body` (the raw bytes, before any parsing) was signed by GitHub: 404 when the
 * deployment has no GitHub keys configured, 401 for a missing, unknown or invalid signature.
 */
export async function verifyGitHubSignature(env: Env, headers: Headers, body: Uint8Array): Promise<void> {
  const keys = await gitHubKeys(env);
  if (keys === null) throw new ApiError("not_found", "GitHub secret scanning is not set up on this deployment");
  const keyId = headers.get(GITHUB_KEY_ID_HEADER);
  const signature = headers.get(GITHUB_SIGNATURE_HEADER);
  if (!keyId || !signature) refuse("Missing Github-Public-Key-Identifier or Github-Public-Key-Signature");
  const key = keys.get(keyId);
  if (!key) refuse("Unknown GitHub public key identifier");
  const der = decodeBase64(signature);
  const raw = der ? derToP1363(der) : null;
  if (!raw || !(await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, raw, body))) {
    refuse("The GitHub signature does not verify");
  }
}
