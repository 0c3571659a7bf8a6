// Key material for dev, tests and signing-key rotation. Node only (node:crypto), no dependencies.
import { generateKeyPairSync, randomBytes } from "node:crypto";

/** A fresh RSA-2048 private JWK for RS256 with a kid like "kg-20261124-3f9a1c". */
export function newRsaPrivateJwk(prefix = "kg") {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwk = privateKey.export({ format: "jwk" });
  const day = new Date().toISOString().slice(0, 10).replaceAll("-", "");
  return { kid: `${prefix}-${day}-${randomBytes(3).toString("hex")}`, alg: "RS256", use: "sig", ...jwk };
}

/** A fresh Ed25519 private JWK for EdDSA (identity assertions), with a kid like "kg-id-20261124-3f9a1c". */
export function newEd25519PrivateJwk(prefix = "kg-id") {
  const { privateKey } = generateKeyPairSync("ed25519");
  const jwk = privateKey.export({ format: "jwk" });
  const day = new Date().toISOString().slice(0, 10).replaceAll("-", "");
  return { kid: `${prefix}-${day}-${randomBytes(3).toString("hex")}`, alg: "EdDSA", use: "sig", ...jwk };
}

/**
 * A stand-in for GitHub secret scanning's signing key (tests): the public half in GitHub's meta
 * format (GITHUB_SECRET_SCANNING_KEYS), the private half as a JWK to sign payloads with.
 */
export function newGitHubScanningKey(keyIdentifier = randomBytes(32).toString("hex")) {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return {
    GITHUB_SECRET_SCANNING_KEYS: JSON.stringify({
      public_keys: [{ key_identifier: keyIdentifier, key: publicKey.export({ type: "spki", format: "pem" }), is_current: true }],
    }),
    keyIdentifier,
    privateJwk: privateKey.export({ format: "jwk" }),
  };
}

/** The public half of a private RSA JWK. */
export function publicJwk(jwk) {
  return { kty: jwk.kty, n: jwk.n, e: jwk.e, kid: jwk.kid, alg: jwk.alg ?? "RS256", use: "sig" };
}

/** Everything a keygate worker needs to run locally: signing keys, identity-assertion keys and a dev identity provider. */
export function newDevKeyMaterial() {
  const signing = newRsaPrivateJwk("kg");
  const idp = newRsaPrivateJwk("dev-idp");
  return {
    SIGNING_KEYS: JSON.stringify({ keys: [signing] }),
    IDENTITY_ASSERTION_KEYS: JSON.stringify({ keys: [newEd25519PrivateJwk()] }),
    USER_TOKEN_JWKS: JSON.stringify({ keys: [publicJwk(idp)] }),
    idpPrivateJwk: idp,
  };
}
