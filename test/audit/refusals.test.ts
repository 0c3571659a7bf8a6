/** The operator's counts of refusals of callers outside a tenant: per hour, bounded, never in the tenant's log. */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { REFUSAL_OVERFLOW, REFUSAL_ROWS_PER_HOUR, recordForeignRefusal } from "../../src/audit/refusals";
import { database } from "../../src/db/client";
import { isId, newId } from "../../src/lib/ids";
import { pathIdKind } from "../../src/routes/spec";
import { ROUTES } from "../../src/routes/table";
import { auditRows, call, concretePath, createKey, expectError, freshTenant, userToken } from "../helpers/worker";

const HOUR = 3600;

describe("management_refusals", () => {
  it("holds at most REFUSAL_ROWS_PER_HOUR rows an hour; further new combinations count in the hour's overflow row", async () => {
    // An hour of its own, far from the other tests' clock.
    const hour = (1_000_000 + Math.floor(Math.random() * 1_000_000)) * HOUR;
    const rows = Array.from({ length: REFUSAL_ROWS_PER_HOUR }, (_, i) => i);
    // Fill the hour straight in D1 (a statement per 10 rows keeps within the 100 bound parameters).
    for (let i = 0; i < rows.length; i += 10) {
      const chunk = rows.slice(i, i + 10);
      await env.DB.prepare(
        `INSERT INTO management_refusals (hour, tenant_id, actor_kind, actor_id, error, count, first_at, last_at) VALUES ${chunk.map(() => "(?, ?, 'anonymous', '', 'invalid_token', 1, ?, ?)").join(", ")}`,
      )
        .bind(...chunk.flatMap((n) => [hour, `t-fill-${n}`, hour, hour]))
        .run();
    }
    const db = database(env.DB);
    const refusal = (tenant: string) =>
      recordForeignRefusal(db, {
        tenant,
        actorKind: "user",
        actorId: "eve",
        error: "access_denied",
        ip: "192.0.2.1",
        userAgent: null,
        now: hour + 60,
      });
    await refusal("t-new-1");
    await refusal("t-new-2");
    // A row the hour already holds still counts as itself.
    await recordForeignRefusal(db, {
      tenant: "t-fill-7",
      actorKind: "anonymous",
      actorId: null,
      error: "invalid_token",
      ip: null,
      userAgent: null,
      now: hour + 61,
    });
    const count = await env.DB.prepare("SELECT count(*) AS n FROM management_refusals WHERE hour = ?").bind(hour).first<{ n: number }>();
    expect(count?.n).toBe(REFUSAL_ROWS_PER_HOUR + 1);
    const overflow = await env.DB.prepare("SELECT * FROM management_refusals WHERE hour = ? AND tenant_id = ?")
      .bind(hour, REFUSAL_OVERFLOW)
      .first();
    expect(overflow).toMatchObject({ actor_kind: REFUSAL_OVERFLOW, actor_id: REFUSAL_OVERFLOW, error: REFUSAL_OVERFLOW, count: 2 });
    const seven = await env.DB.prepare("SELECT count FROM management_refusals WHERE hour = ? AND tenant_id = 't-fill-7'")
      .bind(hour)
      .first();
    expect(seven).toEqual({ count: 2 });
  });
});

describe("path ids", () => {
  it("every {id} in the route table names a kind of id", () => {
    for (const route of ROUTES.filter((r) => r.path.includes("{id}"))) {
      expect(pathIdKind(route.path), route.path).toBeDefined();
    }
  });

  it("newId mints what isId accepts, and nothing else passes", () => {
    for (const kind of ["key", "webhook", "alert"] as const) {
      expect(isId(kind, newId(kind))).toBe(true);
      expect(isId(kind, `${newId(kind)}x`)).toBe(false);
      expect(isId(kind, newId(kind).toUpperCase())).toBe(false);
    }
    expect(isId("webhook", newId("key"))).toBe(false);
    expect(isId("key", "key-\u001b[2J")).toBe(false);
  });

  const withId = ROUTES.filter((r) => r.credential === "management" && r.path.includes("{id}"));
  for (const route of withId) {
    it(`${route.method} ${route.path}: a malformed id is 404 for a member and is stored nowhere`, async () => {
      const tenant = freshTenant();
      await createKey(tenant);
      const before = await auditRows(tenant);
      const token = await userToken({ tenants: [tenant] });
      for (const bad of ["key-1", "x".repeat(300), "%1B%5B31mred", newId("key").replace("key", "wh-key")]) {
        const res = await call(route.method, concretePath(route.path, tenant, bad), { token, body: route.body?.example });
        await expectError(res, 404, "not_found");
      }
      const added = (await auditRows(tenant)).slice(before.length);
      expect(added.map((r) => r.target_key_id)).toEqual([null, null, null, null]);
    });
  }
});
