/** Windows and calendar periods of the counted policies (src/lib/periods.ts). */
import { describe, expect, it } from "vitest";
import { currentWindow, storageKeyOf } from "../../src/lib/periods";

describe("counted windows", () => {
  it("a rate limit's windows are aligned to the epoch", () => {
    expect(currentWindow({ name: "b", limit: 1, window_seconds: 60 }, 125_000)).toEqual({ w: 2, endMs: 180_000 });
  });

  it("a day quota ends at 00:00 UTC; a month quota on the 1st, across year ends and leap Februaries", () => {
    const day = { name: "key.quota", limit: 1, period: "day" as const };
    expect(currentWindow(day, Date.UTC(2031, 5, 15, 23, 59, 59, 999)).endMs).toBe(Date.UTC(2031, 5, 16));
    expect(currentWindow(day, Date.UTC(2031, 5, 16)).endMs).toBe(Date.UTC(2031, 5, 17));
    const month = { name: "key.quota", limit: 1, period: "month" as const };
    expect(currentWindow(month, Date.UTC(2031, 11, 31, 23, 0)).endMs).toBe(Date.UTC(2032, 0, 1));
    expect(currentWindow(month, Date.UTC(2032, 1, 29, 12)).endMs).toBe(Date.UTC(2032, 2, 1));
    expect(currentWindow(month, Date.UTC(2032, 0, 1)).w).toBe(currentWindow(month, Date.UTC(2032, 0, 31, 23, 59)).w);
    expect(currentWindow(month, Date.UTC(2032, 1, 1)).w).toBe(currentWindow(month, Date.UTC(2032, 0, 1)).w + 1);
  });

  it("a `none` quota has one window that never ends", () => {
    expect(currentWindow({ name: "key.quota", limit: 1, period: "none" }, Date.UTC(2040, 0, 1))).toEqual({ w: 0, endMs: null });
  });

  it("a quota is stored by its period, a rate limit by window and name (as before quotas)", () => {
    expect(storageKeyOf({ name: "burst", limit: 1, window_seconds: 60 })).toBe("60:burst");
    expect(storageKeyOf({ name: "key.quota", limit: 5, period: "month" })).toBe("quota:month");
  });
});
