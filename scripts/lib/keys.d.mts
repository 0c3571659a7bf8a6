export interface RsaPrivateJwk {
  kid: string;
  alg: string;
  use: string;
  kty: string;
  n: string;
  e: string;
  d: string;
  [member: string]: string;
}
export function newRsaPrivateJwk(prefix?: string): RsaPrivateJwk;
export function publicJwk(jwk: RsaPrivateJwk): { kty: string; n: string; e: string; kid: string; alg: string; use: string };
export function newEd25519PrivateJwk(prefix?: string): {
  kid: string;
  alg: string;
  use: string;
  kty: string;
  crv: string;
  x: string;
  d: string;
};
export function newGitHubScanningKey(keyIdentifier?: string): {
  GITHUB_SECRET_SCANNING_KEYS: string;
  keyIdentifier: string;
  privateJwk: JsonWebKey;
};
export function newDevKeyMaterial(): {
  SIGNING_KEYS: string;
  IDENTITY_ASSERTION_KEYS: string;
  USER_TOKEN_JWKS: string;
  idpPrivateJwk: RsaPrivateJwk;
};
