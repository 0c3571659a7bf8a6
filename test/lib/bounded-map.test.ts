import { describe, expect, it } from "vitest";
import "../../src/index";
import { cacheSizes, isolateCache, setBounded } from "../../src/lib/bounded-map";

describe("setBounded", () => {
  it("keeps at most `max` entries, dropping the least recently set", () => {
    const map = new Map<string, number>();
    for (const [k, v] of [
      ["a", 1],
      ["b", 2],
      ["c", 3],
    ] as const)
      setBounded(map, k, v, 3);
    setBounded(map, "a", 10, 3); // refreshes a
    setBounded(map, "d", 4, 3); // evicts b, the oldest
    expect([...map]).toEqual([
      ["c", 3],
      ["a", 10],
      ["d", 4],
    ]);
  });
});

describe("isolateCache", () => {
  it("registers every cache with its bound, readable from the inspector's global", () => {
    const cache = isolateCache<string, number>("test-cache", 2);
    setBounded(cache, "a", 1, 2);
    expect(cacheSizes()["test-cache"]).toEqual({ size: 1, max: 2 });
    const fromGlobal = (globalThis as unknown as Record<symbol, () => Record<string, unknown>>)[Symbol.for("keygate.caches")]!();
    expect(fromGlobal["test-cache"]).toEqual({ size: 1, max: 2 });
    // The gateway's own caches are registered as soon as their modules load.
    expect(Object.keys(fromGlobal)).toEqual(expect.arrayContaining(["verified-keys", "refused-keys", "route-decisions", "edge-shards"]));
  });
});
