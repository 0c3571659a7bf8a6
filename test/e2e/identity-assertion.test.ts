/**
 * The signed identity assertion end to end, checked by an independent verifier: a Python origin
 * behind keygate (IDENTITY_ASSERTION = "jwt") verifies it with PyJWT against keygate's JWKS, and
 * refuses it replayed on another path or method, forged, or absent, whatever X-Keygate-* headers
 * the caller adds (test/e2e/clients/assertion_origin.py, docs/gateway.md's verifier).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { importJWK, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, type Keygate, startKeygate } from "./harness";

const ORIGIN_SCRIPT = path.join(import.meta.dirname, "clients", "assertion_origin.py");
const GATEWAY_DOC = path.resolve(import.meta.dirname, "..", "..", "docs", "gateway.md");
const PYTHON = process.env.KEYGATE_PYTHON ?? "/usr/bin/python3";
const SKIP_PYTHON = process.env.KEYGATE_SKIP_PYTHON === "1";
/** wrangler.toml's KEY_ISSUER, which the dev server keeps. */
const KEY_ISSUER = "http://localhost:3000";

interface Verified {
  claims: Record<string, unknown>;
  assertion: string;
  api_key_id: string | null;
}

describe("the identity assertion, verified by PyJWT at the origin", { skip: SKIP_PYTHON }, () => {
  let kg: Keygate;
  let origin: ChildProcess | undefined;
  let originUrl: string;
  let originLogs = "";
  let user: string;

  beforeAll(async () => {
    execFileSync(PYTHON, ["-c", "import jwt, cryptography"], { stdio: "ignore" }); // fails clearly without PyJWT
    const port = await freePort();
    originUrl = `http://127.0.0.1:${port}`;
    kg = await startKeygate({ vars: { ORIGIN_URL: originUrl, IDENTITY_ASSERTION: "jwt" } });
    user = await kg.userToken(["assert-tenant"]);
    const child = spawn(PYTHON, [ORIGIN_SCRIPT], {
      env: {
        ...process.env,
        PORT: String(port),
        KEYGATE_URL: kg.url,
        KEYGATE_ISSUER: KEY_ISSUER,
        ORIGIN_AUDIENCE: originUrl,
        NO_PROXY: "127.0.0.1",
        PYTHONUNBUFFERED: "1",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    origin = child;
    child.stdout?.on("data", (d) => {
      originLogs += d;
    });
    child.stderr?.on("data", (d) => {
      originLogs += d;
    });
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the Python origin exited early (${child.exitCode}):\n${originLogs}`);
      try {
        await fetch(originUrl);
        break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`the Python origin did not start:\n${originLogs}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  afterAll(async () => {
    if (origin && origin.exitCode === null && origin.signalCode === null) {
      const exited = new Promise((resolve) => origin?.once("exit", resolve));
      origin.kill("SIGTERM");
      await exited;
    }
    await kg?.stop();
  });

  async function createKey(scopes: string[]): Promise<{ id: string; api_key: string }> {
    const res = await fetch(`${kg.url}/api/v1/tenant/assert-tenant/api-keys/create`, {
      method: "POST",
      headers: { authorization: `Bearer ${user}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "assertion test", scopes }),
    });
    expect(res.status).toBe(201);
    return res.json() as Promise<{ id: string; api_key: string }>;
  }

  async function direct(p: string, method: string, headers: Record<string, string>) {
    const res = await fetch(`${originUrl}${p}`, { method, headers });
    return { status: res.status, body: (await res.json()) as { error?: string } };
  }

  let captured: string;

  it("runs docs/gateway.md's verifier verbatim", () => {
    const script = readFileSync(ORIGIN_SCRIPT, "utf8");
    const verifier = /# ---- BEGIN docs\/gateway.md verifier ----\n([\s\S]+?)# ---- END docs\/gateway.md verifier ----/.exec(script)?.[1];
    expect(verifier).toBeDefined();
    expect(readFileSync(GATEWAY_DOC, "utf8")).toContain(verifier);
  });

  it("reaches the origin through keygate with an assertion PyJWT verifies, bound to the key and the request", async () => {
    const key = await createKey(["api:read", "api:write"]);
    const res = await fetch(`${kg.url}/api/v1/resources/r-1?expand=1`, { headers: { authorization: `Bearer ${key.api_key}` } });
    const text = await res.text();
    expect(res.status, text + originLogs + kg.logs()).toBe(200);
    const body = JSON.parse(text) as Verified;
    expect(body.claims).toMatchObject({
      iss: KEY_ISSUER,
      aud: originUrl,
      sub: "user-123",
      key_id: key.id,
      tenant: "assert-tenant",
      scopes: ["api:read", "api:write"],
      method: "GET",
      path: "/api/v1/resources/r-1",
    });
    expect((body.claims.exp as number) - (body.claims.iat as number)).toBe(60);
    // The seed's way of pinning the JWKS's first key still verifies API keys with the assertion key published.
    expect(body.api_key_id).toBe(key.id);
    captured = body.assertion;
  });

  it("is refused by the origin when replayed on another path or method", async () => {
    const replayed = { "x-keygate-assertion": captured };
    expect(await direct("/api/v1/admin/users", "GET", replayed)).toEqual({
      status: 403,
      body: { error: "the assertion is for another request" },
    });
    expect(await direct("/api/v1/resources/r-1", "DELETE", replayed)).toEqual({
      status: 403,
      body: { error: "the assertion is for another request" },
    });
  });

  it("is refused by the origin when absent (identity headers alone prove nothing) or forged", async () => {
    const spoofed = { "x-keygate-key-id": "key-admin", "x-keygate-tenant": "assert-tenant", "x-keygate-scopes": "admin:all" };
    expect((await direct("/api/v1/resources/r-1", "GET", spoofed)).status).toBe(401);

    // Same claims and kid, signed by a key that is not keygate's.
    const jwks = (await (await fetch(`${kg.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string; alg: string }[] };
    const kid = jwks.keys.find((k) => k.alg === "EdDSA")?.kid as string;
    const rogue = await importJWK(generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }), "EdDSA");
    const now = Math.floor(Date.now() / 1000);
    const forged = await new SignJWT({
      key_id: "key-admin",
      tenant: "assert-tenant",
      scopes: ["admin:all"],
      method: "GET",
      path: "/api/v1/resources/r-1",
    })
      .setProtectedHeader({ typ: "keygate-identity+jwt", alg: "EdDSA", kid })
      .setIssuer(KEY_ISSUER)
      .setAudience(originUrl)
      .setSubject("mallory")
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(rogue);
    const refused = await direct("/api/v1/resources/r-1", "GET", { "x-keygate-assertion": forged });
    expect(refused).toEqual({ status: 403, body: { error: "Signature verification failed" } });
  });
});
