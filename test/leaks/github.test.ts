/**
 * GitHub secret scanning's partner endpoint: payloads signed with a P-256 key the test run
 * generated (its public half is GITHUB_SECRET_SCANNING_KEYS). A genuine live key is acted on at
 * once by its tenant's leak policy (revoked, so the gateway refuses it on the next request, or
 * notify only), with an audit entry of actor `leak-report`; everything else changes nothing.
 */

import { env } from "cloudflare:workers";
import { importJWK, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { updateTenantSettings } from "../../src/alerts/settings";
import { database } from "../../src/db/client";
import { feedRowsOf } from "../helpers/edge";
import { gitHubSignature, signedByGitHub } from "../helpers/github";
import { activeSigningJwk, auditRows, type CreatedKey, call, createKey, expectError, freshTenant, userToken } from "../helpers/worker";

const GITHUB = "/api/v1/leaks/github";

interface Feedback {
  token_raw: string;
  token_type: string;
  label: "true_positive" | "false_positive";
}

function finding(token: string, url = `https://github.com/octo/repo/blob/${crypto.randomUUID()}/.env`) {
  return { token, type: "keygate_api_key", url, source: "content" };
}

async function report(findings: unknown[], overrides?: Record<string, unknown>): Promise<Response> {
  const body = JSON.stringify(findings);
  return call("POST", GITHUB, { ...(await signedByGitHub(body)), env: overrides });
}

/** Whether the gateway still admits the key (on a path no rule names: any valid key). */
async function gatewayStatus(key: CreatedKey): Promise<{ status: number; description?: string }> {
  const res = await call("GET", `/leak-check/${crypto.randomUUID()}`, { token: key.api_key });
  if (res.status === 200) return { status: 200 };
  return { status: res.status, description: ((await res.json()) as { error_description: string }).error_description };
}

async function stateOf(id: string) {
  return env.DB.prepare("SELECT revoked, revoked_by, revoke_reason FROM api_keys WHERE id = ?").bind(id).first();
}

async function notifyOnly(tenant: string) {
  await updateTenantSettings(database(env.DB), tenant, { leak_action: "notify" }, Math.floor(Date.now() / 1000));
}

/** Tokens that are not keys of this deployment, cheaply: tampered, rogue-signed, another deployment's, not JWTs. */
async function foreignTokens(template: string, tenant: string): Promise<Record<string, string>> {
  const [h, , s] = template.split(".") as [string, string, string];
  const rogue = await importJWK(env.TEST_ROGUE_PRIVATE_JWK, "RS256");
  const claims = {
    sub: "user-123",
    scopes: ["api:read"],
    key_id: `key-${crypto.randomUUID()}`,
    tenant,
    iss: env.KEY_ISSUER,
    aud: env.KEY_AUDIENCE,
    jti: "x",
  };
  return {
    tampered: `${h}.${btoa(JSON.stringify({ ...claims, scopes: ["admin:all"] })).replace(/=+$/, "")}.${s}`,
    "rogue key under this deployment's kid": await new SignJWT(claims)
      .setProtectedHeader({ typ: "keygate+jwt", alg: "RS256", kid: activeSigningJwk().kid })
      .setIssuedAt()
      .sign(rogue),
    "another deployment's key": await new SignJWT(claims)
      .setProtectedHeader({ typ: "keygate+jwt", alg: "RS256", kid: env.TEST_ROGUE_PRIVATE_JWK.kid })
      .setIssuedAt()
      .sign(rogue),
    "a user token": await userToken({ tenants: [tenant] }),
    garbage: "eyJ0eXAiOiJrZXlnYXRlK2p3dCIs.not.a-key",
  };
}

describe("POST /api/v1/leaks/github", () => {
  it("revokes a live key at once: D1, KV, the gateway's next request, the audit log; answers true_positive", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant);
    expect((await gatewayStatus(key)).status).toBe(200); // cached as valid in this isolate
    const url = "https://github.com/octo/repo/blob/abc123/config/.env";
    const res = await report([finding(key.api_key, url)]);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual([{ token_raw: key.api_key, token_type: "keygate_api_key", label: "true_positive" }]);

    expect(await stateOf(key.id)).toEqual({
      revoked: 1,
      revoked_by: "leak-report:github",
      revoke_reason: `leaked: reported by GitHub secret scanning (found at ${url})`,
    });
    expect(await feedRowsOf(key.id)).toBe(1); // every isolate learns it from the change feed
    expect(await gatewayStatus(key)).toEqual({ status: 401, description: "API key has been revoked" });

    const audit = await auditRows(tenant);
    expect(audit.at(-1)).toMatchObject({
      actor_kind: "leak-report",
      actor_id: "github",
      action: "revoke",
      target_key_id: key.id,
      outcome: "success",
      status: 200,
      source_url: url,
    });
    // The audit API shows source_url on leak entries only: other entries keep their shape.
    const listed = await call("GET", `/api/v1/tenant/${tenant}/audit-log`, { token: await userToken({ tenants: [tenant] }) });
    const entries = (await listed.json()) as Record<string, unknown>[];
    expect(entries[0]).toMatchObject({ actor_kind: "leak-report", actor_id: "github", action: "revoke", key_id: key.id, source_url: url });
    expect(entries[1]).toMatchObject({ action: "create" });
    expect(entries[1]).not.toHaveProperty("source_url");
  });

  it("stores a finding's url with its control characters escaped, wherever it goes: revocation reason, audit entry, alert", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant);
    const url = "https://github.com/octo/repo/blob/x/.env\u001b]0;owned\u0007\r\nforged: line\u009b2J";
    const escaped = "https://github.com/octo/repo/blob/x/.env\\u001b]0;owned\\u0007\\u000d\\u000aforged: line\\u009b2J";
    expect((await report([finding(key.api_key, url)])).status).toBe(200);
    expect(await stateOf(key.id)).toMatchObject({ revoke_reason: `leaked: reported by GitHub secret scanning (found at ${escaped})` });
    expect((await auditRows(tenant)).at(-1)).toMatchObject({ action: "revoke", source_url: escaped });
    const alert = await env.DB.prepare("SELECT details FROM alerts WHERE tenant_id = ? AND type = 'key.leaked'")
      .bind(tenant)
      .first<{ details: string }>();
    expect(JSON.parse(alert?.details ?? "{}")).toMatchObject({ url: escaped });
  });

  it("only records the report when the tenant's leak_action is notify", async () => {
    const tenant = freshTenant();
    await notifyOnly(tenant);
    const key = await createKey(tenant);
    const res = await report([finding(key.api_key, "https://github.com/octo/repo/commit/1")]);
    expect(((await res.json()) as Feedback[])[0]?.label).toBe("true_positive");
    expect(await stateOf(key.id)).toMatchObject({ revoked: 0 });
    expect(await gatewayStatus(key)).toEqual({ status: 200 });
    expect((await auditRows(tenant)).at(-1)).toMatchObject({
      actor_kind: "leak-report",
      action: "leak_report",
      target_key_id: key.id,
      source_url: "https://github.com/octo/repo/commit/1",
    });
  });

  it("changes nothing for forged, foreign, already revoked or rotated-away keys; labels them", async () => {
    const tenant = freshTenant();
    const user = await userToken({ tenants: [tenant] });
    const revoked = await createKey(tenant);
    await call("POST", `/api/v1/tenant/${tenant}/api-keys/${revoked.id}/revoke`, { token: user, body: { reason: "by hand" } });
    const rotated = await createKey(tenant);
    await call("POST", `/api/v1/tenant/${tenant}/api-keys/${rotated.id}/rotate`, { token: user, body: { grace_period_seconds: 0 } });
    const foreign = await foreignTokens(revoked.api_key, tenant);
    const before = await auditRows(tenant);

    const tokens = [revoked.api_key, rotated.api_key, ...Object.values(foreign)];
    const res = await report(tokens.map((t) => finding(t)));
    const labels = ((await res.json()) as Feedback[]).map((f) => f.label);
    expect(labels).toEqual(["true_positive", "true_positive", ...Object.keys(foreign).map(() => "false_positive")]);
    expect(await auditRows(tenant)).toEqual(before);
    expect(await stateOf(revoked.id)).toMatchObject({ revoked_by: "user:user-123", revoke_reason: "by hand" });
    expect(await stateOf(rotated.id)).toMatchObject({ revoked: 0 });
  });

  it("handles a mixed batch across tenants, each by its own policy, answering in GitHub's order", async () => {
    const a = freshTenant();
    const b = freshTenant();
    await notifyOnly(b);
    const keyA = await createKey(a);
    const keyB = await createKey(b);
    const other = await foreignTokens(keyA.api_key, a);
    const batch = [finding(keyA.api_key), finding(other.tampered as string), finding(keyB.api_key), finding(keyA.api_key)];
    const feedback = (await (await report(batch)).json()) as Feedback[];
    expect(feedback.map((f) => [f.token_raw, f.label])).toEqual([
      [keyA.api_key, "true_positive"],
      [other.tampered, "false_positive"],
      [keyB.api_key, "true_positive"],
      [keyA.api_key, "true_positive"],
    ]);
    expect((await gatewayStatus(keyA)).status).toBe(401);
    expect((await gatewayStatus(keyB)).status).toBe(200);
    // One action per key, however often the batch names it.
    expect((await auditRows(a)).filter((r) => r.actor_kind === "leak-report")).toHaveLength(1);
    expect((await auditRows(b)).filter((r) => r.actor_kind === "leak-report")).toHaveLength(1);
  });

  it("refuses a bad signature, an unknown key id or missing headers with 401, and changes nothing", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant);
    const body = JSON.stringify([finding(key.api_key)]);
    const otherBody = JSON.stringify([finding(key.api_key, "https://github.com/x")]);
    const other = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as CryptoKeyPair;
    const otherJwk = (await crypto.subtle.exportKey("jwk", other.privateKey)) as JsonWebKey;
    const cases: [string, Promise<Response>, string][] = [
      [
        "signed over another body",
        call("POST", GITHUB, { ...(await signedByGitHub(body, { signature: await gitHubSignature(otherBody) })) }),
        "The GitHub signature does not verify",
      ],
      [
        "signed by another P-256 key",
        call("POST", GITHUB, await signedByGitHub(body, { jwk: otherJwk })),
        "The GitHub signature does not verify",
      ],
      [
        "not base64 DER",
        call("POST", GITHUB, await signedByGitHub(body, { signature: "bm90IGEgc2lnbmF0dXJl" })),
        "The GitHub signature does not verify",
      ],
      [
        "an unknown key identifier",
        call("POST", GITHUB, await signedByGitHub(body, { keyId: "0".repeat(64) })),
        "Unknown GitHub public key identifier",
      ],
      [
        "no signature headers",
        call("POST", GITHUB, { rawBody: body, headers: { "content-type": "application/json" } }),
        "Missing Github-Public-Key-Identifier or Github-Public-Key-Signature",
      ],
    ];
    for (const [what, pending, description] of cases) {
      const err = await expectError(await pending, 401, "invalid_token");
      expect(err.error_description, what).toBe(description);
    }
    expect(await stateOf(key.id)).toMatchObject({ revoked: 0 });
    expect(await auditRows(tenant)).toHaveLength(1); // its creation
  });

  it("checks the body only once the signature verified: bad JSON or shape is a 400 naming the field", async () => {
    const bad = async (body: string) => expectError(await call("POST", GITHUB, await signedByGitHub(body)), 400, "invalid_request");
    expect((await bad("[{")).error_description).toBe("the request body is not valid JSON");
    expect((await bad('{"token":"x"}')).error_description).toBe("the request body must be a JSON array of {token, type, url, source}");
    expect((await bad('[{"type":"keygate_api_key"}]')).error_description).toBe("[0].token is required");
    const unsigned = await call("POST", GITHUB, { rawBody: "[{", headers: { "content-type": "application/json" } });
    await expectError(unsigned, 401, "invalid_token");
  });

  it("is a 404 where GitHub's keys are not configured", async () => {
    const res = await report([finding("x")], { GITHUB_SECRET_SCANNING_KEYS: "" });
    const err = await expectError(res, 404, "not_found");
    expect(err.error_description).toBe("GitHub secret scanning is not set up on this deployment");
  });

  it("handles a batch of 1,000 tokens in one D1 lookup, whatever the mix", async () => {
    const a = freshTenant();
    const b = freshTenant();
    await notifyOnly(b);
    const user = await userToken({ tenants: [a, b] });
    const liveA = await Promise.all(Array.from({ length: 30 }, () => createKey(a)));
    const liveB = await Promise.all(Array.from({ length: 10 }, () => createKey(b)));
    const revoked = await Promise.all(Array.from({ length: 10 }, () => createKey(a)));
    for (const k of revoked) await call("POST", `/api/v1/tenant/${a}/api-keys/${k.id}/revoke`, { token: user });
    // Valid signatures of this deployment for keys D1 never stored: genuine, and dead.
    const signing = await importJWK(activeSigningJwk(), "RS256");
    const unknown = await Promise.all(
      Array.from({ length: 150 }, () =>
        new SignJWT({ scopes: ["api:read"], key_id: `key-${crypto.randomUUID()}`, tenant: a })
          .setProtectedHeader({ typ: "keygate+jwt", alg: "RS256", kid: activeSigningJwk().kid })
          .setSubject("user-123")
          .setIssuer(env.KEY_ISSUER as string)
          .setAudience(env.KEY_AUDIENCE as string)
          .setIssuedAt()
          .setJti(crypto.randomUUID())
          .sign(signing),
      ),
    );
    const foreign = Object.values(await foreignTokens(liveA[0]!.api_key, a));
    const [h, p, s] = liveA[0]!.api_key.split(".") as [string, string, string];
    const tokens = [...liveA, ...liveB, ...revoked].map((k) => k.api_key).concat(unknown);
    // Fill to 1,000 with forgeries: this deployment's header, a tampered payload, a real key's signature.
    for (let i = 0; tokens.length < 1000 - foreign.length; i++) tokens.push(`${h}.${p.slice(0, -4)}${String(i).padStart(4, "0")}.${s}`);
    tokens.push(...foreign);
    // Shuffled: order must not matter.
    tokens.sort(() => Math.random() - 0.5);
    expect(tokens).toHaveLength(1000);

    const d1 = countingD1(env.DB);
    const started = Date.now();
    const res = await call("POST", GITHUB, {
      ...(await signedByGitHub(JSON.stringify(tokens.map((t) => finding(t))))),
      env: { DB: d1.binding },
    });
    const elapsedMs = Date.now() - started;
    console.log(
      `GitHub batch of 1,000 tokens (40 live, 160 dead, 800 forged or foreign): ${elapsedMs} ms, ${d1.roundTrips()} D1 round trips`,
    );
    expect(res.status).toBe(200);
    const feedback = (await res.json()) as Feedback[];
    expect(feedback.map((f) => f.token_raw)).toEqual(tokens);
    const genuine = new Set([...liveA, ...liveB, ...revoked].map((k) => k.api_key).concat(unknown));
    for (const f of feedback) expect(f.label).toBe(genuine.has(f.token_raw) ? "true_positive" : "false_positive");

    for (const k of liveA) expect((await stateOf(k.id))?.revoked_by).toBe("leak-report:github");
    for (const k of liveB) expect((await stateOf(k.id))?.revoked).toBe(0);
    for (const k of revoked) expect((await stateOf(k.id))?.revoked_by).toBe("user:user-123");
    // 1 lookup for the whole batch, the 2 tenants' policies, then per live key a bounded number:
    // the revoke's transaction and the row read back (revoked keys), and the key.leaked alert's
    // transaction. Never per token of the batch.
    expect(d1.roundTrips()).toBeLessThanOrEqual(1 + 2 + 3 * liveA.length + 2 * liveB.length);
    // 60 keys created and 10 revoked first: past the default 5 s on a loaded machine.
  });
});

/**
 * The D1 binding, counting round trips: each batch, and each statement run outside a batch.
 * Statements stay the binding's own objects (a batch accepts nothing else); their run methods are wrapped in place.
 */
function countingD1(d1: D1Database): { binding: D1Database; roundTrips(): number } {
  let count = 0;
  const binding = new Proxy(d1, {
    get(target, prop) {
      if (prop === "batch") {
        return (statements: D1PreparedStatement[]) => {
          count++;
          return target.batch(statements);
        };
      }
      if (prop === "prepare") {
        return (query: string) => {
          const statement = target.prepare(query);
          const bind = statement.bind.bind(statement);
          const counted = (s: D1PreparedStatement): D1PreparedStatement => {
            for (const method of ["all", "raw", "run", "first"] as const) {
              const original = (s[method] as (...args: unknown[]) => unknown).bind(s);
              Object.defineProperty(s, method, {
                value: (...args: unknown[]) => {
                  count++;
                  return original(...args);
                },
              });
            }
            return s;
          };
          Object.defineProperty(statement, "bind", { value: (...values: unknown[]) => counted(bind(...values)) });
          return counted(statement);
        };
      }
      const value = Reflect.get(target, prop);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { binding, roundTrips: () => count };
}
