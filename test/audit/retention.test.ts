/** Audit retention under a frozen clock: what the cron deletes, in bounded batches, and what it keeps. */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { pruneAudit } from "../../src/audit/retention";
import { VARS } from "../../src/config/vars";
import { runScheduled } from "../../src/scheduled";
import { freshTenant } from "../helpers/worker";

const DAY = 86_400;
/** The frozen "now" of these tests: 2033-05-18, after every row other tests write. */
const NOW = 2_000_000_000;

async function insertAudit(tenant: string, ats: number[]): Promise<void> {
  // Ten rows per statement: 80 bound parameters, inside D1's 100.
  for (let i = 0; i < ats.length; i += 10) {
    const chunk = ats.slice(i, i + 10);
    await env.DB.prepare(
      `INSERT INTO audit_log (id, at, tenant_id, actor_kind, action, outcome, status, error) VALUES ${chunk.map(() => "(?, ?, ?, 'user', 'create', 'success', ?, ?)").join(", ")}`,
    )
      .bind(...chunk.flatMap((at) => [`evt-${crypto.randomUUID()}`, at, tenant, 201, null]))
      .run();
  }
}

async function ats(tenant: string): Promise<number[]> {
  const { results } = await env.DB.prepare("SELECT at FROM audit_log WHERE tenant_id = ? ORDER BY seq").bind(tenant).all<{ at: number }>();
  return results.map((r) => r.at);
}

describe("audit retention", () => {
  it("the cron deletes entries older than AUDIT_RETENTION_DAYS (default 365) and keeps the rest", async () => {
    const tenant = freshTenant();
    const keep = [NOW - 365 * DAY + 1, NOW - 30 * DAY, NOW];
    await insertAudit(tenant, [NOW - 800 * DAY, NOW - 366 * DAY, NOW - 365 * DAY - 1, ...keep]);
    await env.DB.prepare(
      "INSERT INTO management_refusals (hour, tenant_id, actor_kind, actor_id, error, count, first_at, last_at) VALUES (?, ?, 'anonymous', '', 'invalid_token', 1, ?, ?), (?, ?, 'anonymous', '', 'invalid_token', 1, ?, ?)",
    )
      .bind(NOW - 400 * DAY, tenant, NOW - 400 * DAY, NOW - 400 * DAY, NOW - 3600, tenant, NOW - 3600, NOW - 3600)
      .run();
    expect(VARS.AUDIT_RETENTION_DAYS.default).toBe(365);
    await runScheduled(env, NOW);
    expect(await ats(tenant)).toEqual(keep);
    const { results } = await env.DB.prepare("SELECT hour FROM management_refusals WHERE tenant_id = ?").bind(tenant).all();
    expect(results).toEqual([{ hour: NOW - 3600 }]);
  });

  it("honours AUDIT_RETENTION_DAYS", async () => {
    const tenant = freshTenant();
    await insertAudit(tenant, [NOW - 40 * DAY, NOW - 20 * DAY]);
    await runScheduled({ ...env, AUDIT_RETENTION_DAYS: "30" }, NOW);
    expect(await ats(tenant)).toEqual([NOW - 20 * DAY]);
  });

  it("deletes in bounded batches and finishes a backlog on later runs", async () => {
    const tenant = freshTenant();
    const old = Array.from({ length: 45 }, (_, i) => NOW - 500 * DAY + i);
    await insertAudit(tenant, [...old, NOW - DAY]);
    // Two statements of ten rows per run.
    const limits = { chunk: 10, maxChunks: 2 };
    expect(await pruneAudit(env.DB, 365, NOW, limits)).toBe(20);
    expect(await ats(tenant)).toHaveLength(26);
    expect(await pruneAudit(env.DB, 365, NOW, limits)).toBe(20);
    expect(await pruneAudit(env.DB, 365, NOW, limits)).toBe(5);
    expect(await pruneAudit(env.DB, 365, NOW, limits)).toBe(0);
    expect(await ats(tenant)).toEqual([NOW - DAY]);
  });
});
