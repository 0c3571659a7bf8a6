// The management API as the bench and the soak use it: a user access token from the dev identity
// provider, key creation (sequential and timed, or concurrent in batches), revoke, rotate, patch;
// and tokens the gateway must refuse (a tampered signature, random forgeries); valid keys minted with
// the deployment's signing key and no D1 row (the data plane never reads D1), each a key no isolate has seen.
import { createPrivateKey, randomBytes, randomUUID, sign } from "node:crypto";
import { performance } from "node:perf_hooks";
import { VARS } from "../../src/config/vars.ts";
import { latencyStats, round } from "./stats.mjs";

/** A user access token for `tenant`, signed by the dev IdP whose public JWKS keygate trusts. */
export async function userToken(jose, config, idpJwk, tenant) {
  const key = await jose.importJWK(idpJwk, "RS256");
  const now = Math.floor(Date.now() / 1000);
  return new jose.SignJWT({ [config.vars.USER_TOKEN_TENANTS_CLAIM ?? VARS.USER_TOKEN_TENANTS_CLAIM.default]: [tenant] })
    .setProtectedHeader({ alg: "RS256", typ: "JWT", kid: idpJwk.kid })
    .setSubject("bench-user")
    .setIssuer(config.vars.USER_TOKEN_ISSUER ?? "keygate-dev-idp")
    .setAudience(config.vars.USER_TOKEN_AUDIENCE ?? "keygate")
    .setIssuedAt(now)
    .setExpirationTime(now + 24 * 3600)
    .sign(key);
}

/** Requests against one tenant's management API; each resolves { status, body, ms }. */
export function managementClient(base, token, tenant) {
  const prefix = `${base}/api/v1/tenant/${tenant}/api-keys`;
  async function call(method, path, body, under = prefix) {
    const t = performance.now();
    const res = await fetch(under + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed = text;
    try {
      parsed = JSON.parse(text);
    } catch {}
    return { status: res.status, body: parsed, ms: performance.now() - t };
  }
  return {
    create: (body) => call("POST", "/create", body),
    revoke: (id, reason = "bench") => call("POST", `/${id}/revoke`, { reason }),
    rotate: (id, body = {}) => call("POST", `/${id}/rotate`, body),
    patch: (id, body) => call("PATCH", `/${id}`, body),
    get: (id) => call("GET", `/${id}`),
    list: (query = "") => call("GET", `/list${query}`),
    // Issue 19: limit groups (bench rows (n)).
    createGroup: (body) => call("POST", "", body, `${base}/api/v1/tenant/${tenant}/limit-groups`),
  };
}

/**
 * Creates one key per entry of `bodies` (create bodies), the first `sequential` one after the
 * other (timed per request), the rest `concurrency` at a time. Throws on any refusal.
 * Resolves { keys: [{ id, apiKey }] in the order of `bodies`, sequential, concurrent } with
 * latency stats for each phase (and creates/s for the concurrent one).
 */
export async function createKeys(client, bodies, { sequential = bodies.length, concurrency = 16, onProgress } = {}) {
  const keys = new Array(bodies.length);
  const create = async (i, latencies) => {
    const res = await client.create(bodies[i]);
    latencies.push(res.ms);
    if (res.status !== 201) throw new Error(`create #${i} failed: ${res.status} ${JSON.stringify(res.body)}`);
    keys[i] = { id: res.body.id, apiKey: res.body.api_key };
  };
  const seqCount = Math.min(sequential, bodies.length);
  const seqLatencies = [];
  const t0 = performance.now();
  for (let i = 0; i < seqCount; i++) await create(i, seqLatencies);
  const seqMs = performance.now() - t0;

  const conLatencies = [];
  let next = seqCount;
  const t1 = performance.now();
  let lastReport = t1;
  const lane = async () => {
    while (next < bodies.length) {
      const i = next++;
      await create(i, conLatencies);
      if (onProgress && performance.now() - lastReport > 5000) {
        lastReport = performance.now();
        onProgress(i + 1 - seqCount, bodies.length - seqCount);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, lane));
  const conMs = performance.now() - t1;
  const concurrent =
    conLatencies.length === 0
      ? null
      : { ...latencyStats(conLatencies, conMs), concurrency, perSec: round((conLatencies.length / conMs) * 1000, 0) };
  return { keys, sequential: seqLatencies.length === 0 ? null : latencyStats(seqLatencies, seqMs), concurrent };
}

const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** Changes the signature's last base64url character so that the decoded bytes really differ. */
export function tamperSignature(jwt) {
  const last = jwt.at(-1);
  // A 256-byte RS256 signature is 342 base64url characters; the last one carries only 2 data bits
  // (its top bits), so flipping a low bit could decode to the same bytes. Flip the top bit instead.
  const flipped = B64URL[B64URL.indexOf(last) ^ 0b100000];
  return jwt.slice(0, -1) + flipped;
}

/**
 * A fresh forgery each call: the real protected header of `template` (an attacker reads the `kid`
 * from the JWKS), random claims bytes and a random 256-byte signature. Well-formed, so the gateway
 * does the full signature check on each one (the costly refusal) unless it throttles first.
 */
export function forgedTokenFactory(template) {
  const header = template.slice(0, template.indexOf("."));
  return () => `${header}.${randomBytes(96).toString("base64url")}.${randomBytes(256).toString("base64url")}`;
}

const b64url = (value) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");

/**
 * `count` valid API keys minted as keygate's issueApiKey does (same header order, claims, RS256,
 * the active signing key of SIGNING_KEYS), each with a fresh key id: keys no isolate has seen.
 */
export function mintKeys(signingKeys, vars, tenant, count) {
  const jwk = JSON.parse(signingKeys).keys[0];
  const key = createPrivateKey({ key: jwk, format: "jwk" });
  const header = b64url({ typ: "keygate+jwt", alg: "RS256", kid: jwk.kid });
  const iat = Math.floor(Date.now() / 1000);
  const keys = [];
  for (let i = 0; i < count; i++) {
    const payload = b64url({
      scopes: ["api:read"],
      key_id: `key-${randomUUID()}`,
      tenant,
      sub: "bench",
      iss: vars.KEY_ISSUER,
      aud: vars.KEY_AUDIENCE,
      iat,
      jti: randomUUID(),
      exp: iat + 86_400,
    });
    const input = `${header}.${payload}`;
    keys.push(`${input}.${sign("sha256", Buffer.from(input), key).toString("base64url")}`);
  }
  return keys;
}
