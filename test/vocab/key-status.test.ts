/**
 * One answer to "is this key usable?": the server's function, its SQL predicate run in D1 (the list
 * endpoint's `?status=`, and the cron detectors' display-status predicate), the console's table and
 * the CLI's output agree on every combination of revoked, expired, rotated and within grace, at the
 * boundary instants (one second before, at, and one second after `now`).
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { keyStatus as cliKeyStatus } from "../../cli/output.mjs";
import { filterStatus as consoleFilterStatus, keyStatus as consoleKeyStatus } from "../../console/src/lib/keys-table";
import type { KeyView } from "../../console/src/lib/types";
import {
  KEY_DISPLAY_STATUSES,
  KEY_STATUSES,
  type KeyDisplayStatus,
  type KeyStatus,
  keyDisplayStatus,
  keyDisplayStatusSql,
  keyStatus,
} from "../../src/vocab/key-status.mjs";
import { call, createKey, freshTenant, userToken } from "../helpers/worker";

afterEach(() => {
  vi.useRealTimers();
});

/** A time: none, or one second before, at, or one second after now. */
const INSTANTS = [null, -1, 0, 1] as const;

interface Case {
  revoked: boolean;
  expires: (typeof INSTANTS)[number];
  cutoff: (typeof INSTANTS)[number];
}

const CASES: Case[] = [false, true].flatMap((revoked) =>
  INSTANTS.flatMap((expires) => INSTANTS.map((cutoff) => ({ revoked, expires, cutoff }))),
);

describe("key status: server, SQL, console and CLI agree", () => {
  it("on every combination of revoked, expired, rotated and within grace, at the boundary instants", async () => {
    const tenant = freshTenant();
    const token = await userToken({ tenants: [tenant] });
    const now = Math.floor(Date.now() / 1000);
    const at = (offset: Case["expires"]) => (offset === null ? null : now + offset);
    const keys = await Promise.all(CASES.map(() => createKey(tenant)));
    await env.DB.batch(
      CASES.map((c, i) =>
        env.DB.prepare(
          "UPDATE api_keys SET revoked = ?, revoked_at = ?, expires_at = ?, rotation_cutoff_at = ?, replaced_by = ? WHERE tenant_id = ? AND id = ?",
        ).bind(
          c.revoked ? 1 : 0,
          c.revoked ? now - 10 : null,
          at(c.expires),
          at(c.cutoff),
          c.cutoff === null ? null : `key-replacement-${i}`,
          tenant,
          keys[i]!.id,
        ),
      ),
    );

    // The server's clock stands still at `now` for the list calls.
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(now * 1000 + 500);

    const views = new Map<string, KeyView>();
    const listedAs = new Map<string, KeyStatus[]>();
    const all = await call("GET", `/api/v1/tenant/${tenant}/api-keys/list?limit=1000`, { token });
    expect(all.status).toBe(200);
    for (const view of (await all.json()) as KeyView[]) views.set(view.id, view);
    for (const status of KEY_STATUSES) {
      const res = await call("GET", `/api/v1/tenant/${tenant}/api-keys/list?limit=1000&status=${status}`, { token });
      expect(res.status).toBe(200);
      for (const view of (await res.json()) as KeyView[]) listedAs.set(view.id, [...(listedAs.get(view.id) ?? []), status]);
    }
    // The detectors' predicate, for each display status, in D1.
    const displayedAs = new Map<string, KeyDisplayStatus[]>();
    for (const status of KEY_DISPLAY_STATUSES) {
      const { results } = await env.DB.prepare(
        `SELECT k.id FROM api_keys k WHERE k.tenant_id = ?2 AND ${keyDisplayStatusSql(status, "k.").join("?1")}`,
      )
        .bind(now, tenant)
        .all<{ id: string }>();
      for (const { id } of results) displayedAs.set(id, [...(displayedAs.get(id) ?? []), status]);
    }

    const seen = new Set<KeyStatus>();
    CASES.forEach((c, i) => {
      const id = keys[i]!.id;
      const row = { revoked: c.revoked, expiresAt: at(c.expires), rotationCutoffAt: at(c.cutoff) };
      const status = keyStatus(row, now);
      const display = keyDisplayStatus(row, now);
      const view = views.get(id)!;
      const label = JSON.stringify(c);
      seen.add(status);
      // The documented precedence: revoked, then expired, then rotated (past the cut-off), else active.
      const documented: KeyStatus = c.revoked
        ? "revoked"
        : c.expires !== null && c.expires <= 0
          ? "expired"
          : c.cutoff !== null && c.cutoff <= 0
            ? "rotated"
            : "active";
      expect(status, label).toBe(documented);
      expect(listedAs.get(id), label).toEqual([status]);
      expect(displayedAs.get(id), label).toEqual([display]);
      expect(display === "rotating" ? "active" : display, label).toBe(status);
      expect(consoleFilterStatus(view, now), label).toBe(status);
      expect(consoleKeyStatus(view, now), label).toBe(display);
      expect(cliKeyStatus(view, now), label).toBe(display);
    });
    expect([...seen].sort()).toEqual([...KEY_STATUSES].sort());
  });
});
