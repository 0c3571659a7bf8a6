/** The operator's counts of refusals of callers outside a tenant: per hour, bounded, never in the tenant's log. */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  REFUSAL_OVERFLOW,
  REFUSAL_ROWS_PER_HOUR,
  REFUSAL_ROWS_PER_NETWORK,
  REFUSAL_TENANT_OVERFLOW_ROWS,
  recordForeignRefusal,
} from "../../src/audit/refusals";
import { database } from "../../src/db/client";
import { isId, newId } from "../../src/lib/ids";
import { pathIdKind } from "../../src/routes/spec";
import { ROUTES } from "../../src/routes/table";
import { auditRows, call, concretePath, createKey, expectError, freshTenant, userToken } from "../helpers/worker";

const HOUR = 3600;

/** An hour of its own, far from the other tests' clock. */
function freshHour(): number {
  return (1_000_000 + Math.floor(Math.random() * 1_000_000)) * HOUR;
}

/** Fills `hour` straight in D1 with `n` rows of tenants `${prefix}-<i>` (actor and error as given), started by `network`. */
async function fill(hour: number, n: number, prefix: string, network: string | null, actor = "anonymous", error = "invalid_token") {
  // A statement per 10 rows keeps within D1_MAX_BOUND_PARAMETERS (src/lib/platform-limits.ts).
  for (let i = 0; i < n; i += 10) {
    const chunk = Array.from({ length: Math.min(10, n - i) }, (_, j) => i + j);
    await env.DB.prepare(
      `INSERT INTO management_refusals (hour, tenant_id, actor_kind, actor_id, error, count, first_at, last_at, network) VALUES ${chunk.map(() => "(?, ?, ?, ?, ?, 1, ?, ?, ?)").join(", ")}`,
    )
      .bind(...chunk.flatMap((k) => [hour, `${prefix}-${k}`, actor, actor === "anonymous" ? "" : actor, error, hour, hour, network]))
      .run();
  }
}

async function rowsOf(hour: number) {
  const { results } = await env.DB.prepare(
    "SELECT tenant_id, actor_kind, actor_id, error, count, last_ip, network FROM management_refusals WHERE hour = ?",
  )
    .bind(hour)
    .all<{
      tenant_id: string;
      actor_kind: string;
      actor_id: string;
      error: string;
      count: number;
      last_ip: string | null;
      network: string | null;
    }>();
  return results;
}

describe("management_refusals", () => {
  const db = database(env.DB);
  const refusal = (hour: number, tenant: string, ip: string, actorId: string | null = null, error = "invalid_token") =>
    recordForeignRefusal(db, {
      tenant,
      actorKind: actorId === null ? "anonymous" : "user",
      actorId,
      error,
      ip,
      userAgent: null,
      now: hour + 60,
    });

  it("past REFUSAL_ROWS_PER_HOUR rows, a new combination counts in its tenant's overflow row (the tenant kept); existing rows count as themselves", async () => {
    const hour = freshHour();
    await fill(hour, REFUSAL_ROWS_PER_HOUR, "t-fill", "192.0.2.200");
    await refusal(hour, "victim", "198.51.100.1", "eve", "access_denied");
    await refusal(hour, "victim", "198.51.100.2", "mallory", "access_denied");
    await refusal(hour, "t-fill-7", "198.51.100.3");
    const rows = await rowsOf(hour);
    expect(rows).toHaveLength(REFUSAL_ROWS_PER_HOUR + 1);
    expect(rows.find((r) => r.tenant_id === "victim")).toEqual({
      tenant_id: "victim",
      actor_kind: REFUSAL_OVERFLOW,
      actor_id: REFUSAL_OVERFLOW,
      error: REFUSAL_OVERFLOW,
      count: 2,
      last_ip: "198.51.100.2",
      network: "198.51.100.1",
    });
    expect(rows.find((r) => r.tenant_id === "t-fill-7")).toMatchObject({ actor_kind: "anonymous", count: 2 });
  });

  it("one client network starts at most REFUSAL_ROWS_PER_NETWORK rows an hour: spraying made-up tenants cannot push others' refusals out", async () => {
    const hour = freshHour();
    // One IPv4 address spraying made-up tenant names, then one IPv6 /64 from many addresses.
    for (let n = 0; n < REFUSAL_ROWS_PER_NETWORK + 15; n++) await refusal(hour, `junk-${n}`, "203.0.113.5");
    for (let n = 0; n < REFUSAL_ROWS_PER_NETWORK + 15; n++) await refusal(hour, `junk6-${n}`, `2001:db8:1:2::${(n + 1).toString(16)}`);
    const rows = await rowsOf(hour);
    const started = (network: string) => rows.filter((r) => r.network === network);
    expect(started("203.0.113.5")).toHaveLength(REFUSAL_ROWS_PER_NETWORK);
    expect(started("2001:db8:1:2::/64")).toHaveLength(REFUSAL_ROWS_PER_NETWORK);
    // The rest is one count in the hour's overflow row.
    expect(rows.filter((r) => r.network === null)).toEqual([
      expect.objectContaining({ tenant_id: REFUSAL_OVERFLOW, actor_kind: REFUSAL_OVERFLOW, count: 30 }),
    ]);
    // Another client's refusals still get rows of their own.
    await refusal(hour, "victim", "198.51.100.9", "eve", "access_denied");
    expect((await rowsOf(hour)).find((r) => r.tenant_id === "victim")).toMatchObject({ actor_id: "eve", error: "access_denied", count: 1 });
  });

  it("past the tenants' overflow rows too, a new combination counts in the hour's one overflow row: the table stays bounded", async () => {
    const hour = freshHour();
    await fill(hour, REFUSAL_ROWS_PER_HOUR, "t-fill", null);
    await fill(hour, REFUSAL_TENANT_OVERFLOW_ROWS - 1, "t-over", null, REFUSAL_OVERFLOW, REFUSAL_OVERFLOW);
    await refusal(hour, "victim", "198.51.100.1", "eve", "access_denied"); // the last tenant overflow row
    await refusal(hour, "victim", "198.51.100.2", "mallory", "access_denied");
    await refusal(hour, "other", "198.51.100.3", "eve", "access_denied");
    await refusal(hour, "another", "198.51.100.4", "eve", "access_denied");
    const rows = await rowsOf(hour);
    expect(rows).toHaveLength(REFUSAL_ROWS_PER_HOUR + REFUSAL_TENANT_OVERFLOW_ROWS + 1);
    expect(rows.find((r) => r.tenant_id === "victim")).toMatchObject({ actor_id: REFUSAL_OVERFLOW, count: 2 });
    expect(rows.find((r) => r.tenant_id === REFUSAL_OVERFLOW)).toMatchObject({ actor_id: REFUSAL_OVERFLOW, count: 2, network: null });
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
