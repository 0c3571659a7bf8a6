/**
 * The largest key the management API accepts, through everything it touches, with the bindings
 * behind production limits (test/helpers/platform-limits.ts): the longest name, every scope of the
 * catalog, the most rate limits with the longest names, the biggest IPv6 allowlist and metadata.
 * D1 rows and statements, the KV edge record (key, value, metadata), the audit entry, the usage
 * event's queue message and the roll-up all stay inside Cloudflare's limits.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DEFAULT_SCOPE_CATALOG } from "../../src/config/keys";
import { edgeRecordKey } from "../../src/keys/edge-record";
import { ALLOWED_IPS_MAX, METADATA_MAX_BYTES, NAME_MAX_LENGTH, RATE_LIMITS_MAX } from "../../src/keys/requests";
import { KV_MAX_METADATA_BYTES } from "../../src/lib/platform-limits";
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

    const stored = await env.EDGE_RECORDS.getWithMetadata<{ allowed_ips: string[] }>(edgeRecordKey(key.id), "json");
    expect(stored.value?.allowed_ips).toHaveLength(ALLOWED_IPS_MAX);
    // The allowlist is in the value; the metadata (a fingerprint the reconciler compares) stays small.
    expect(new TextEncoder().encode(JSON.stringify(stored.metadata)).byteLength).toBeLessThan(KV_MAX_METADATA_BYTES / 10);

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
