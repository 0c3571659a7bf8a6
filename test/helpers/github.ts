/** Signing payloads as GitHub secret scanning does (ECDSA P-256 SHA-256 over the raw body, base64 DER). */
import { env } from "cloudflare:workers";
import type { CallOptions } from "./worker";

/** r || s (WebCrypto's P1363 form) -> ASN.1 DER SEQUENCE { INTEGER r, INTEGER s }. */
export function p1363ToDer(raw: Uint8Array): Uint8Array {
  const integer = (bytes: Uint8Array) => {
    let start = 0;
    while (start < bytes.length - 1 && bytes[start] === 0) start++;
    const trimmed = bytes.subarray(start);
    // A set top bit would read as negative: DER prefixes a zero byte.
    const body = (trimmed[0] as number) & 0x80 ? Uint8Array.of(0, ...trimmed) : trimmed;
    return Uint8Array.of(0x02, body.length, ...body);
  };
  const r = integer(raw.subarray(0, 32));
  const s = integer(raw.subarray(32));
  return Uint8Array.of(0x30, r.length + s.length, ...r, ...s);
}

function base64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

/** The base64 DER signature of `body` by `jwk` (default: the key GITHUB_SECRET_SCANNING_KEYS lists). */
export async function gitHubSignature(body: string | Uint8Array, jwk: JsonWebKey = env.TEST_GITHUB_PRIVATE_JWK): Promise<string> {
  const { kid: _, ...privateJwk } = jwk as JsonWebKey & { kid?: string };
  const key = await crypto.subtle.importKey("jwk", privateJwk, { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body;
  const raw = new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key, bytes));
  return base64(p1363ToDer(raw));
}

/** call() options for a request GitHub signed: the raw body and both signature headers. */
export async function signedByGitHub(
  body: string,
  options: { keyId?: string; jwk?: JsonWebKey; signature?: string } = {},
): Promise<CallOptions> {
  return {
    rawBody: body,
    headers: {
      "content-type": "application/json",
      "github-public-key-identifier": options.keyId ?? env.TEST_GITHUB_PRIVATE_JWK.kid,
      "github-public-key-signature": options.signature ?? (await gitHubSignature(body, options.jwk)),
    },
  };
}
