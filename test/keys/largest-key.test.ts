/**
 * The largest key the management API accepts, through everything it touches, with the bindings
 * behind production limits (test/helpers/platform-limits.ts): the longest name, every scope of the
 * catalog, the most rate limits with the longest names, the biggest IPv6 allowlist and metadata.
 * D1 rows and statements, the edge record in the KV snapshot, the audit entry, the usage
 * event's queue message and the roll-up all stay inside Cloudflare's limits.
 */
import { describe, expect, it } from "vitest";
import { DEFAULT_SCOPE_CATALOG } from "../../src/config/keys";
import { ALLOWED_IPS_MAX, METADATA_MAX_BYTES, NAME_MAX_LENGTH, RATE_LIMITS_MAX } from "../../src/keys/requests";
import { buildSnapshot, snapshotRecord } from "../helpers/edge";
import { auditRows, call, createKey, freshTenant, usageRecorded, userToken } from "../helpers/worker";

/** 50 distinct IPv6 /128s in their longest canonical text (eight four-digit groups). */
const ALLOWLIST = Array.from({ length: ALLOWED_IPS_MAX }, (_, i) => `fd12:3456:789a:bcde:f012:3456:789a:${(0xbc00 + i).toString(16)}/128`);

describe("the largest key the API accepts", () => {
  it("is created, mirrored to KV, audited, updated and used within every platform limit", async () => {
    const tenant = freshTenant();
    // Three UTF-8 bytes per character: the longest name in bytes.
    const name = "€".repeat(NAME_MAX_LENGTH);
    const scopes = Object.keys(DEFAULT_SCOPE_CATALOG);
    const rateLimits = Array.from({ length: RATE_LIMITS_MAX }, (_, i) => ({
      name: `${"l".repeat(31)}${i}`,
      limit: 1_000_000_000,
      window_seconds: 2_678_400,
    }));
    const key = await createKey(tenant, { name, scopes, expires_in_days: 30, rate_limits: rateLimits, allowed_ips: ALLOWLIST });
    expect(key.name).toBe(name);
    expect(key.scopes.sort()).toEqual([...scopes].sort());

    // Its record, the largest one a key can have, in the snapshot (KV's limits enforced on the write).
    await buildSnapshot();
    expect((await snapshotRecord(key.id))?.allowed_ips).toHaveLength(ALLOWED_IPS_MAX);

    const metadata = { note: "m".repeat(METADATA_MAX_BYTES - '{"note":""}'.length) };
    const token = await userToken({ tenants: [tenant] });
    const updated = await call("PATCH", `/api/v1/tenant/${tenant}/api-keys/${key.id}`, { token, body: { metadata, name } });
    expect(updated.status).toBe(200);
    expect((await auditRows(tenant)).length).toBeGreaterThanOrEqual(2);

    // Used from the last address of its allowlist: the usage event goes through the queue and is rolled up.
    const last = ALLOWLIST[ALLOWLIST.length - 1]!.replace("/128", "");
    const res = await call("GET", `/api/v1/resources/${crypto.randomUUID()}`, {
      token: key.api_key,
      headers: { "cf-connecting-ip": last },
    });
    expect(res.status).toBe(200);
    await usageRecorded(key.id);
  });
});
