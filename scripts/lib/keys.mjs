// Key material for dev, tests and signing-key rotation. Node only (node:crypto), no dependencies.
import { generateKeyPairSync, randomBytes } from "node:crypto";

/** A fresh RSA-2048 private JWK for RS256 with a kid like "kg-20261124-3f9a1c". */
export function newRsaPrivateJwk(prefix = "kg") {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwk = privateKey.export({ format: "jwk" });
  const day = new Date().toISOString().slice(0, 10).replaceAll("-", "");
  return { kid: `${prefix}-${day}-${randomBytes(3).toString("hex")}`, alg: "RS256", use: "sig", ...jwk };
}

/** The public half of a private RSA JWK. */
export function publicJwk(jwk) {
  return { kty: jwk.kty, n: jwk.n, e: jwk.e, kid: jwk.kid, alg: jwk.alg ?? "RS256", use: "sig" };
}

/** Everything a keygate worker needs to run locally: signing keys and a dev identity provider. */
export function newDevKeyMaterial() {
  const signing = newRsaPrivateJwk("kg");
  const idp = newRsaPrivateJwk("dev-idp");
  return {
    SIGNING_KEYS: JSON.stringify({ keys: [signing] }),
    USER_TOKEN_JWKS: JSON.stringify({ keys: [publicJwk(idp)] }),
    idpPrivateJwk: idp,
  };
}
