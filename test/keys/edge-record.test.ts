import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { cachedEdgeView, clearEdgeCache, writeEdgeRecord } from "../../src/keys/edge-cache";
import { countingKv, readEdgeState } from "../helpers/edge";

describe("edge record cache", () => {
  it("never hands one request's in-flight read to another: concurrent misses read KV each", async () => {
    clearEdgeCache();
    const { kv, reads } = countingKv();
    const keyId = `key-${crypto.randomUUID()}`;
    const now = Date.now();
    const results = await Promise.all([readEdgeState(kv, keyId, 10_000, now), readEdgeState(kv, keyId, 10_000, now)]);
    expect(results).toEqual([null, null]);
    expect(reads()).toBe(2);
    // Once resolved, the value is cached for the TTL.
    await readEdgeState(kv, keyId, 10_000, now + 5_000);
    expect(reads()).toBe(2);
    await readEdgeState(kv, keyId, 10_000, now + 10_001);
    expect(reads()).toBe(3);
  });

  it("a revoke written by this isolate beats a KV read that was already in flight", async () => {
    clearEdgeCache();
    const keyId = `key-${crypto.randomUUID()}`;
    const now = Date.now();
    const inFlight = readEdgeState(env.EDGE_RECORDS, keyId, 10_000, now);
    await writeEdgeRecord(env.EDGE_RECORDS, keyId, { state: "revoked", at: 1 }, null, Math.floor(now / 1000));
    await inFlight;
    expect((await readEdgeState(env.EDGE_RECORDS, keyId, 10_000, now))?.refused).toEqual({ state: "revoked", at: 1 });
  });
});

describe("edge records", () => {
  it("a revocation this isolate learned is never forgotten, even when a later KV read is stale", async () => {
    clearEdgeCache();
    const keyId = `key-${crypto.randomUUID()}`;
    const now = Date.now();
    await writeEdgeRecord(env.EDGE_RECORDS, keyId, { state: "revoked", at: 1 }, null, Math.floor(now / 1000));
    // KV serves an older record (here: none) after this isolate's trust window.
    await env.EDGE_RECORDS.delete(`key-state:${keyId}`);
    const later = now + 10 * 60_000;
    expect((await readEdgeState(env.EDGE_RECORDS, keyId, 10_000, later))?.refused).toEqual({ state: "revoked", at: 1 });
  });

  it("limits and allowlists are parsed once per read: policy header, fingerprint, ranges", async () => {
    clearEdgeCache();
    const keyId = `key-${crypto.randomUUID()}`;
    await env.EDGE_RECORDS.put(
      `key-state:${keyId}`,
      JSON.stringify({
        rate_limits: [{ name: "burst", limit: 100, window_seconds: 60 }],
        allowed_ips: ["203.0.113.0/24", "2001:db8::/32"],
      }),
    );
    const view = await readEdgeState(env.EDGE_RECORDS, keyId, 10_000, Date.now());
    expect(view?.refused).toBeNull();
    expect(view?.limits?.policyHeader).toBe('"burst";q=100;w=60');
    expect(view?.limits?.fingerprint).toMatch(/^[0-9a-f]{8}$/);
    expect(view?.allowlist?.map((r) => r.text)).toEqual(["203.0.113.0/24", "2001:db8::/32"]);
  });

  it("a null record deletes the KV entry; a key with nothing special costs no entry", async () => {
    const keyId = `key-${crypto.randomUUID()}`;
    const now = Math.floor(Date.now() / 1000);
    await writeEdgeRecord(env.EDGE_RECORDS, keyId, { allowed_ips: ["198.51.100.7"] }, null, now);
    expect(await env.EDGE_RECORDS.get(`key-state:${keyId}`, "json")).toEqual({ allowed_ips: ["198.51.100.7"] });
    await writeEdgeRecord(env.EDGE_RECORDS, keyId, null, null, now);
    expect(await env.EDGE_RECORDS.get(`key-state:${keyId}`)).toBeNull();
    expect(cachedEdgeView(keyId, Date.now())).toBeNull();
  });
  it("a key expiring within the minute, written by a cron run that began seconds ago, is still accepted by KV", async () => {
    const keyId = `key-${crypto.randomUUID()}`;
    const started = Math.floor(Date.now() / 1000) - 20; // the cron's scheduled time
    expect(await writeEdgeRecord(env.EDGE_RECORDS, keyId, { state: "revoked", at: started }, started + 30, started)).toBe(true);
    const listed = await env.EDGE_RECORDS.list({ prefix: `key-state:${keyId}` });
    expect(listed.keys[0]?.expiration).toBeGreaterThanOrEqual(Math.floor(Date.now() / 1000) + 60);
  });
});
