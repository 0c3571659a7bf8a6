import { describe, expect, it } from "vitest";
import { changedFields, createFields, draftOf, EMPTY_POLICY, parseRateLimits, policyFields } from "../src/lib/policy-input";

describe("policy inputs", () => {
  it("parse rate limits one per line, with window units, and name the line that is wrong", () => {
    expect(parseRateLimits("burst=100/60s\n\n daily = 10000/1d ")).toEqual([
      { name: "burst", limit: 100, window_seconds: 60 },
      { name: "daily", limit: 10000, window_seconds: 86_400 },
    ]);
    expect(() => parseRateLimits("burst=100/60s\nfast")).toThrow(/^Rate limit line 2 \("fast"\) is not name=limit\/window/);
  });

  it("round-trip a key's fields, and an empty input means none", () => {
    const key = {
      rate_limits: [{ name: "burst", limit: 100, window_seconds: 3600 }],
      allowed_ips: ["10.0.0.0/8"],
      quota: { limit: 5000, period: "day" as const, remaining: 12 },
      limit_group: "grp-1",
    };
    const draft = draftOf(key);
    expect(draft).toEqual({
      rateLimits: "burst=100/1h",
      allowedIps: "10.0.0.0/8",
      quotaLimit: "5000",
      quotaPeriod: "day",
      limitGroup: "grp-1",
    });
    expect(policyFields(draft)).toEqual({
      rate_limits: key.rate_limits,
      allowed_ips: key.allowed_ips,
      quota: { limit: 5000, period: "day" },
      limit_group: "grp-1",
    });
    expect(createFields(EMPTY_POLICY)).toEqual({});
    expect(() => policyFields({ ...EMPTY_POLICY, quotaLimit: "1.5" })).toThrow(/whole number/);
  });

  it("send only what changed on edit, null to remove", () => {
    const original = draftOf({ quota: { limit: 10, period: "month" }, limit_group: "grp-1" });
    expect(changedFields(original, original)).toEqual({});
    expect(changedFields({ ...original, quotaLimit: "", rateLimits: "b=1/1s" }, original)).toEqual({
      quota: null,
      rate_limits: [{ name: "b", limit: 1, window_seconds: 1 }],
    });
    expect(changedFields({ ...original, limitGroup: "" }, original)).toEqual({ limit_group: null });
  });
});
