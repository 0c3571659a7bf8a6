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
export function newDevKeyMaterial(): { SIGNING_KEYS: string; USER_TOKEN_JWKS: string; idpPrivateJwk: RsaPrivateJwk };
