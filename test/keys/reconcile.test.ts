import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { clearEdgeCache } from "../../src/keys/edge-cache";
import { RECONCILE_BUDGET, type ReconcileBudget, type ReconcileReport, reconcileEdgeRecords } from "../../src/keys/reconcile";
import worker from "../helpers/limited-entry";
import { call, createKey, expectError, freshTenant, userToken } from "../helpers/worker";

async function runCron(): Promise<void> {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron: "*/5 * * * *" }), env, ctx);
  await waitOnExecutionContext(ctx);
}

describe("the scheduled reconciler", () => {
  it("repairs a lost KV write: the revoked key is refused again", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant);
    await call("POST", `/api/v1/tenant/${tenant}/api-keys/${key.id}/revoke`, { token: await userToken({ tenants: [tenant] }) });
    // The KV write is lost and this isolate forgets what it knew: the edge no longer knows.
    await env.EDGE_RECORDS.delete(`key-state:${key.id}`);
    clearEdgeCache();
    expect((await call("GET", "/api/v1/resources", { token: key.api_key })).status).toBe(200);

    await runCron();
    clearEdgeCache();
    const body = await expectError(await call("GET", "/api/v1/resources", { token: key.api_key }), 401, "invalid_token");
    expect(body.error_description).toBe("API key has been revoked");
    expect(await env.EDGE_RECORDS.get(`key-state:${key.id}`, "json")).toMatchObject({ state: "revoked" });
  });

  it("repairs rotation cut-offs and corrects a wrong entry", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant);
    await call("POST", `/api/v1/tenant/${tenant}/api-keys/${key.id}/rotate`, {
      token: await userToken({ tenants: [tenant] }),
      body: { grace_period_seconds: 0 },
    });
    const cutoff = (await env.DB.prepare("SELECT rotation_cutoff_at AS c FROM api_keys WHERE id = ?").bind(key.id).first<{ c: number }>())
      ?.c;
    await env.EDGE_RECORDS.put(`key-state:${key.id}`, JSON.stringify({ state: "rotated", at: 9_999_999_999 }), {
      metadata: { state: "rotated", at: 9_999_999_999 },
    });
    await runCron();
    expect(await env.EDGE_RECORDS.get(`key-state:${key.id}`, "json")).toEqual({ state: "rotated", at: cutoff });
  });

  it("writes entries with the key's exp as their KV expiration, and skips keys already expired", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant] });
    const live = await createKey(tenant, { expires_in_days: 3 });
    const dead = await createKey(tenant, { expires_in_days: 3 });
    for (const k of [live, dead]) await call("POST", `/api/v1/tenant/${tenant}/api-keys/${k.id}/revoke`, { token });
    await env.DB.prepare("UPDATE api_keys SET expires_at = ? WHERE id = ?")
      .bind(Math.floor(Date.now() / 1000) - 5, dead.id)
      .run();
    for (const k of [live, dead]) await env.EDGE_RECORDS.delete(`key-state:${k.id}`);
    await runCron();
    const listed = await env.EDGE_RECORDS.list({ prefix: "key-state:" });
    const byName = new Map(listed.keys.map((k) => [k.name, k]));
    expect(byName.get(`key-state:${live.id}`)?.expiration).toBe(live.expires_at);
    expect(byName.has(`key-state:${dead.id}`)).toBe(false);
  });

  it("leaves correct entries alone", async () => {
    const tenant = freshTenant();
    const key = await createKey(tenant);
    await call("POST", `/api/v1/tenant/${tenant}/api-keys/${key.id}/revoke`, { token: await userToken({ tenants: [tenant] }) });
    await reconcileEdgeRecords(env.DB, env.EDGE_RECORDS, Math.floor(Date.now() / 1000));
    const second = await reconcileEdgeRecords(env.DB, env.EDGE_RECORDS, Math.floor(Date.now() / 1000));
    expect(second.repaired).toBe(0);
    expect(second.checked).toBeGreaterThan(0);
  });

  it("repairs lost rate-limit and allowlist records, and deletes records D1 no longer calls for", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant] });
    const limited = await createKey(tenant, {
      rate_limits: [{ name: "burst", limit: 5, window_seconds: 60 }],
      allowed_ips: ["192.0.2.0/24"],
    });
    const cleared = await createKey(tenant, { allowed_ips: ["192.0.2.0/24"] });
    await env.EDGE_RECORDS.delete(`key-state:${limited.id}`);
    // The allowlist was removed in D1 but the KV delete was lost: the entry would keep refusing clients.
    await call("PATCH", `/api/v1/tenant/${tenant}/api-keys/${cleared.id}`, { token, body: { allowed_ips: null } });
    await env.EDGE_RECORDS.put(`key-state:${cleared.id}`, JSON.stringify({ allowed_ips: ["192.0.2.0/24"] }));
    await runCron();
    expect(await env.EDGE_RECORDS.get(`key-state:${limited.id}`, "json")).toEqual({
      rate_limits: [{ name: "burst", limit: 5, window_seconds: 60 }],
      allowed_ips: ["192.0.2.0/24"],
    });
    expect(await env.EDGE_RECORDS.get(`key-state:${cleared.id}`)).toBeNull();
    clearEdgeCache();
    const res = await call("GET", `/api/v1/resources`, { token: cleared.api_key, headers: { "cf-connecting-ip": "198.51.100.1" } });
    expect(res.status).toBe(200);
  });
});

/** A key row written straight to D1, revoked (its KV write "lost"): only the columns D1 requires. */
async function insertRevokedKey(tenant: string, id: string, now: number): Promise<void> {
  await env.DB.prepare(
    `INSERT INTO api_keys (id, tenant_id, name, scopes, created_at, expires_in_days, created_by, subject, jti, kid, updated_at, revoked, revoked_at)
     VALUES (?1, ?2, 'capacity', '["api:read"]', ?3, 0, 'user:test', 'sub', ?1, 'kid', ?3, 1, ?3)`,
  )
    .bind(id, tenant, now)
    .run();
}

/** EDGE_RECORDS, counting the writes and deletes per entry name. */
function countingKv() {
  const writes = new Map<string, number>();
  const count = (name: string) => writes.set(name, (writes.get(name) ?? 0) + 1);
  const kv = {
    list: (options?: KVNamespaceListOptions) => env.EDGE_RECORDS.list(options),
    get: (name: string) => env.EDGE_RECORDS.get(name),
    put: (name: string, value: string, options?: KVNamespacePutOptions) => {
      count(name);
      return env.EDGE_RECORDS.put(name, value, options);
    },
    delete: (name: string) => {
      count(name);
      return env.EDGE_RECORDS.delete(name);
    },
  } as unknown as KVNamespace;
  return { kv, writes };
}

async function edgeRowsInD1(now: number): Promise<number> {
  const row = await env.DB.prepare(
    `SELECT count(*) AS n FROM api_keys WHERE (revoked = 1 OR rotation_cutoff_at IS NOT NULL OR rate_limits IS NOT NULL OR allowed_ips IS NOT NULL)
       AND (expires_at IS NULL OR expires_at > ?)`,
  )
    .bind(now)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

describe("the reconciler across cron runs (a pass resumes from a cursor)", () => {
  const SMALL: ReconcileBudget = { kvOps: 6, d1Queries: 8, pageSize: 4 };

  /** Runs until a pass completes (at most `maxRuns`); the reports of each run. */
  async function pass(kv: KVNamespace, budget: ReconcileBudget, now: number, maxRuns = 200): Promise<ReconcileReport[]> {
    const reports: ReconcileReport[] = [];
    while (reports.length < maxRuns) {
      const r = await reconcileEdgeRecords(env.DB, kv, now, budget);
      reports.push(r);
      if (r.passCompleted) return reports;
    }
    throw new Error(`no complete pass in ${maxRuns} runs`);
  }

  it("a small budget per run: every key is checked once per pass across several runs, and the next pass starts over", async () => {
    const now = Math.floor(Date.now() / 1000);
    await pass(env.EDGE_RECORDS, RECONCILE_BUDGET, now); // start at a pass boundary, KV in line with D1
    const tenant = freshTenant();
    const lost = Array.from({ length: 30 }, () => `key-${crypto.randomUUID()}`);
    for (const id of lost) await insertRevokedKey(tenant, id, now);
    // Entries D1 never asked for (their deletes were lost): interleaved with the others in id order.
    const stale = Array.from({ length: 10 }, () => `key-${crypto.randomUUID()}`);
    for (const id of stale) await env.EDGE_RECORDS.put(`key-state:${id}`, JSON.stringify({ allowed_ips: ["192.0.2.1"] }));

    const { kv, writes } = countingKv();
    const first = await pass(kv, SMALL, now);
    expect(first.length).toBeGreaterThan(5);
    for (const r of first) {
      expect(r.kvOps).toBeLessThanOrEqual(SMALL.kvOps);
      expect(r.d1Queries).toBeLessThanOrEqual(SMALL.d1Queries);
    }
    // Never re-done, never skipped: each D1 row checked once, each lost write and stale entry fixed once.
    expect(first.reduce((n, r) => n + r.checked, 0)).toBe(await edgeRowsInD1(now));
    for (const id of [...lost, ...stale]) expect(writes.get(`key-state:${id}`)).toBe(1);
    expect(writes.size).toBe(lost.length + stale.length);
    for (const id of lost) expect(await env.EDGE_RECORDS.get(`key-state:${id}`, "json")).toMatchObject({ state: "revoked" });
    for (const id of stale) expect(await env.EDGE_RECORDS.get(`key-state:${id}`)).toBeNull();

    // The next pass starts from the first key again, finds nothing to repair, and checks the same keys.
    writes.clear();
    const second = await pass(kv, SMALL, now);
    expect(second.reduce((n, r) => n + r.checked, 0)).toBe(await edgeRowsInD1(now));
    expect(second.reduce((n, r) => n + r.repaired, 0)).toBe(0);
    expect(writes.size).toBe(0);
  });

  it("a revocation whose KV write is lost behind the cursor is repaired by the next pass: within two passes", async () => {
    const now = Math.floor(Date.now() / 1000);
    await pass(env.EDGE_RECORDS, RECONCILE_BUDGET, now);
    const runsPerPass = (await pass(env.EDGE_RECORDS, SMALL, now)).length;
    // Half a pass, then a key that sorts before everything is revoked with its KV write lost.
    for (let i = 0; i < Math.floor(runsPerPass / 2); i++) await reconcileEdgeRecords(env.DB, env.EDGE_RECORDS, now, SMALL);
    const behind = `key-00000000-${crypto.randomUUID().slice(9)}`;
    await insertRevokedKey(freshTenant(), behind, now);

    let runs = 0;
    let repairedInFirstPass = false;
    let passes = 0;
    while ((await env.EDGE_RECORDS.get(`key-state:${behind}`)) === null) {
      const r = await reconcileEdgeRecords(env.DB, env.EDGE_RECORDS, now, SMALL);
      runs++;
      if (r.passCompleted) passes++;
      expect(runs).toBeLessThanOrEqual(2 * (runsPerPass + 1));
    }
    if (passes === 0) repairedInFirstPass = true;
    expect(repairedInFirstPass).toBe(false); // the cursor had passed it: the pass in progress did not
    expect(passes).toBe(1); // ... the next one did
    expect(await env.EDGE_RECORDS.get(`key-state:${behind}`, "json")).toMatchObject({ state: "revoked" });
  });
});
