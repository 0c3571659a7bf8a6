/**
 * Exactness across isolates: two copies of the production bundle run as two workers in one
 * workerd (miniflare), each its own isolate, sharing one Durable Object namespace (worker b binds
 * worker a's RateLimitCounter class), D1 and KV. 300 concurrent requests split over both for a key
 * limited to 50: exactly 50 reach the origin.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { readD1Migrations } from "@cloudflare/vitest-plugin";
import { importJWK, SignJWT } from "jose";
import { Miniflare } from "miniflare";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newDevKeyMaterial } from "../../scripts/lib/keys.mjs";
import { startTestOrigin, type TestOrigin } from "../helpers/test-origin";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const run = promisify(execFile);
let out: string;
let mf: Miniflare;
let origin: TestOrigin;
const keys = newDevKeyMaterial();

/** The migrations' statements, split as wrangler and the vitest pool split them (triggers included). */
/** wrangler.toml's compatibility_date: the deployed worker's, so both isolates run as it does. */
function wranglerCompatibilityDate(): string {
  const date = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(readFileSync(path.join(ROOT, "wrangler.toml"), "utf8"))?.[1];
  if (!date) throw new Error("wrangler.toml has no compatibility_date");
  return date;
}

async function migrationStatements(): Promise<string[]> {
  return (await readD1Migrations(path.join(ROOT, "migrations"))).flatMap((m) => m.queries);
}

beforeAll(async () => {
  out = mkdtempSync(path.join(tmpdir(), "keygate-isolates-"));
  await run(path.join(ROOT, "node_modules", ".bin", "wrangler"), ["deploy", "--dry-run", "--outdir", out], {
    cwd: ROOT,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" },
  });
  const main = path.join(out, "index.js");
  origin = await startTestOrigin();
  const worker = (name: string, durableObject: { className: string; scriptName?: string }) => ({
    name,
    modules: [{ type: "ESModule" as const, path: main, contents: readFileSync(main, "utf8") }],
    modulesRoot: out,
    compatibilityDate: wranglerCompatibilityDate(),
    bindings: {
      SIGNING_KEYS: keys.SIGNING_KEYS,
      USER_TOKEN_JWKS: keys.USER_TOKEN_JWKS,
      USER_TOKEN_ISSUER: "keygate-dev-idp",
      USER_TOKEN_AUDIENCE: "keygate",
      KEY_ISSUER: "http://localhost:3000",
      KEY_AUDIENCE: "your-api",
      ORIGIN_URL: origin.url,
      USAGE_EVENTS: "off",
      // Each isolate polls the edge change feed at most every second (docs/edge-records.md).
      REVOCATION_CACHE_TTL_SECONDS: "1",
    },
    d1Databases: { DB: "shared-db" },
    kvNamespaces: { EDGE_RECORDS: "shared-kv" },
    queueProducers: { USAGE_QUEUE: "usage", WEBHOOK_QUEUE: "webhooks" },
    durableObjects: { RATE_LIMITER: { ...durableObject, useSQLite: true } },
  });
  mf = new Miniflare({
    cf: false,
    workers: [worker("a", { className: "RateLimitCounter" }), worker("b", { className: "RateLimitCounter", scriptName: "a" })],
  });
  await mf.ready;
  const db = await mf.getD1Database("DB", "a");
  for (const statement of await migrationStatements()) await db.prepare(statement).run();
});

afterAll(async () => {
  await mf?.dispose();
  await origin?.close();
  if (out) rmSync(out, { recursive: true, force: true });
});

async function userToken(tenant: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ tenants: [tenant] })
    .setProtectedHeader({ alg: "RS256", kid: keys.idpPrivateJwk.kid })
    .setSubject("user-123")
    .setIssuer("keygate-dev-idp")
    .setAudience("keygate")
    .setIssuedAt(now)
    .setExpirationTime(now + 600)
    .sign(await importJWK(keys.idpPrivateJwk, "RS256"));
}

describe("rate limits across two isolates", () => {
  it("a limit of 50 admits exactly 50 of 300 concurrent requests split over both isolates", async () => {
    const a = await mf.getWorker("a");
    const b = await mf.getWorker("b");
    const res = await a.fetch("http://localhost/api/v1/tenant/iso/api-keys/create", {
      method: "POST",
      headers: { authorization: `Bearer ${await userToken("iso")}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "shared", scopes: ["api:read"], rate_limits: [{ name: "burst", limit: 50, window_seconds: 3600 }] }),
    });
    expect(res.status).toBe(201);
    const { api_key } = (await res.json()) as { api_key: string };
    const path = `/api/v1/isolates/${crypto.randomUUID()}`;
    const send = async (worker: typeof a) => {
      const r = await worker.fetch(`http://localhost${path}`, { headers: { authorization: `Bearer ${api_key}` } });
      await r.arrayBuffer();
      return r.status;
    };
    const statuses = await Promise.all([...Array.from({ length: 150 }, () => send(a)), ...Array.from({ length: 150 }, () => send(b))]);
    expect(statuses.filter((s) => s === 200)).toHaveLength(50);
    expect(statuses.filter((s) => s === 429)).toHaveLength(250);
    const seen = (await (await fetch(`${origin.url}/__seen${path}`)).json()) as { count: number };
    expect(seen.count).toBe(50);
    // Both isolates took part: each admitted some and refused some.
    const [fromA, fromB] = [statuses.slice(0, 150), statuses.slice(150)];
    expect(fromA.filter((s) => s === 200).length + fromB.filter((s) => s === 200).length).toBe(50);
    expect(fromB.some((s) => s === 429)).toBe(true);
  });
});

/** Creates a key through worker a; `body` adds quota, limits or a group. */
async function createSharedKey(tenant: string, body: Record<string, unknown>): Promise<string> {
  const a = await mf.getWorker("a");
  const res = await a.fetch(`http://localhost/api/v1/tenant/${tenant}/api-keys/create`, {
    method: "POST",
    headers: { authorization: `Bearer ${await userToken(tenant)}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "shared", scopes: ["api:read"], ...body }),
  });
  expect(res.status).toBe(201);
  const { api_key } = (await res.json()) as { api_key: string };
  await bothIsolatesLearnTheFeed();
  return api_key;
}

/**
 * Worker a made the key and knows its record; b learns it from the edge change feed (a poll is due
 * REVOCATION_CACHE_TTL_SECONDS after its last one, and the next request starts it). A request without
 * a key spends nothing, so it is what starts the poll here.
 */
async function bothIsolatesLearnTheFeed(): Promise<void> {
  await new Promise((r) => setTimeout(r, 1_100));
  for (const name of ["a", "b"]) {
    const worker = await mf.getWorker(name);
    await (await worker.fetch(`http://localhost/api/v1/isolates/feed-${crypto.randomUUID()}`)).arrayBuffer();
  }
  await new Promise((r) => setTimeout(r, 500));
}

/** 300 concurrent requests split over both isolates (round robin over `keys`); the statuses, and what the origin saw. */
async function flood(keys: string[]): Promise<{ statuses: number[]; seen: number }> {
  const a = await mf.getWorker("a");
  const b = await mf.getWorker("b");
  const path = `/api/v1/isolates/${crypto.randomUUID()}`;
  const send = async (worker: typeof a, key: string) => {
    const r = await worker.fetch(`http://localhost${path}`, { headers: { authorization: `Bearer ${key}` } });
    await r.arrayBuffer();
    return r.status;
  };
  const statuses = await Promise.all(Array.from({ length: 300 }, (_, i) => send(i % 2 === 0 ? a : b, keys[i % keys.length] as string)));
  const seen = ((await (await fetch(`${origin.url}/__seen${path}`)).json()) as { count: number }).count;
  return { statuses, seen };
}

describe("quotas across two isolates (issue 19)", () => {
  it("a quota of 50 admits exactly 50 of 300 concurrent requests split over both isolates", async () => {
    const key = await createSharedKey("iso-quota", { quota: { limit: 50, period: "month" } });
    const { statuses, seen } = await flood([key]);
    expect(statuses.filter((s) => s === 200)).toHaveLength(50);
    expect(statuses.filter((s) => s === 429)).toHaveLength(250);
    expect(seen).toBe(50);
  });

  it("a limit group's quota of 50 shared by three keys admits exactly 50 over both isolates", async () => {
    const a = await mf.getWorker("a");
    const res = await a.fetch("http://localhost/api/v1/tenant/iso-group/limit-groups", {
      method: "POST",
      headers: { authorization: `Bearer ${await userToken("iso-group")}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "shared", quota: { limit: 50, period: "day" } }),
    });
    expect(res.status).toBe(201);
    const group = ((await res.json()) as { id: string }).id;
    const keys = await Promise.all([1, 2, 3].map(() => createSharedKey("iso-group", { limit_group: group })));
    const { statuses, seen } = await flood(keys);
    expect(statuses.filter((s) => s === 200)).toHaveLength(50);
    expect(seen).toBe(50);
  });

  it("early refusal is bounded by the idle isolate's unspent lease (at most a quarter of what remained), and that lease is still spent later", async () => {
    const key = await createSharedKey("iso-bound", { quota: { limit: 100, period: "month" } });
    const a = await mf.getWorker("a");
    const b = await mf.getWorker("b");
    const path = `/api/v1/isolates/${crypto.randomUUID()}`;
    const send = async (worker: typeof a) => {
      const r = await worker.fetch(`http://localhost${path}`, { headers: { authorization: `Bearer ${key}` } });
      await r.arrayBuffer();
      return r.status;
    };
    // Isolate a serves a few requests one after the other (its next lease is sized to its rate), then
    // goes idle holding what is left of that lease.
    const fromA: number[] = [];
    for (let i = 0; i < 5; i++) fromA.push(await send(a));
    const admittedA = fromA.filter((s) => s === 200).length;
    expect(admittedA).toBe(5);
    // Isolate b floods: it gets everything but a's unspent lease.
    const fromB = await Promise.all(Array.from({ length: 200 }, () => send(b)));
    const admittedB = fromB.filter((s) => s === 200).length;
    // Refused early (a holds units), but by no more than a quarter of what remained at a's grant.
    expect(admittedA + admittedB).toBeLessThan(100);
    expect(admittedA + admittedB).toBeGreaterThanOrEqual(75);
    // a spends its lease on its next requests: the period admits exactly its quota in the end.
    const later = await Promise.all(Array.from({ length: 50 }, () => send(a)));
    expect(admittedA + admittedB + later.filter((s) => s === 200).length).toBe(100);
    const seen = ((await (await fetch(`${origin.url}/__seen${path}`)).json()) as { count: number }).count;
    expect(seen).toBe(100);
  });
});
