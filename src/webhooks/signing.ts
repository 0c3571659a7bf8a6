/**
 * Webhook signatures, the Stripe convention: `Keygate-Signature: t=<unix seconds>,v1=<hex>` where
 * v1 = HMAC-SHA256(key = the secret string exactly as shown at registration, message = t + "." +
 * the raw body). Receivers recompute it over the bytes they received and reject timestamps outside
 * a tolerance (docs/usage.md shows a verifier), so a captured delivery cannot be replayed later.
 */
import { isolateCache, setBounded } from "../lib/bounded-map";

export const SIGNATURE_HEADER = "keygate-signature";
const SECRET_PREFIX = "whsec_";
const SECRET_BYTES = 32;

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function newWebhookSecret(): string {
  return SECRET_PREFIX + base64url(crypto.getRandomValues(new Uint8Array(SECRET_BYTES)));
}

const MAX_CACHED_KEYS = 1_000;
const keys = isolateCache<string, CryptoKey>("webhook-hmac-keys", MAX_CACHED_KEYS);

async function hmacKey(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    setBounded(keys, secret, key, MAX_CACHED_KEYS);
  }
  return key;
}

/** The Keygate-Signature header value for `body` sent at `timestamp` (unix seconds). */
export async function signatureHeader(secret: string, timestamp: number, body: string): Promise<string> {
  const mac = await crypto.subtle.sign("HMAC", await hmacKey(secret), new TextEncoder().encode(`${timestamp}.${body}`));
  const hex = [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `t=${timestamp},v1=${hex}`;
}
