import { describe, expect, it } from "vitest";
import { setBounded } from "../../src/lib/bounded-map";

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
