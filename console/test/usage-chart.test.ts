import { describe, expect, it } from "vitest";
import { chartData } from "../src/lib/usage-chart";

const H = 3600;
const T0 = 1_800_000_000 - (1_800_000_000 % H);

describe("usage chart data", () => {
  it("fills the hours without traffic with zeros, one series per outcome that occurred, in the API's order", () => {
    const data = chartData(
      [
        { start: T0 + H, total: 3, outcomes: { rate_limited: 1, accepted: 2 } },
        { start: T0 + 3 * H, total: 1, outcomes: { revoked: 1, accepted: 0 } },
      ],
      T0,
      T0 + 4 * H,
      "hour",
    );
    expect(data.x).toEqual([T0, T0 + H, T0 + 2 * H, T0 + 3 * H]);
    expect(data.series).toEqual([
      { outcome: "accepted", values: [0, 2, 0, 0] },
      { outcome: "revoked", values: [0, 0, 0, 1] },
      { outcome: "rate_limited", values: [0, 1, 0, 0] },
    ]);
  });

  it("aligns a range that starts mid-bucket, ignores buckets outside it, and keeps unknown outcomes", () => {
    const data = chartData(
      [
        { start: T0 - 5 * H, total: 9, outcomes: { accepted: 9 } },
        { start: T0, total: 1, outcomes: { brand_new: 1 } },
      ],
      T0 + 1800,
      T0 + 2 * H,
      "hour",
    );
    expect(data.x).toEqual([T0, T0 + H]);
    expect(data.series).toEqual([
      { outcome: "accepted", values: [0, 0] },
      { outcome: "brand_new", values: [1, 0] },
    ]);
  });

  it("an empty range draws nothing", () => {
    expect(chartData([], T0, T0, "day")).toEqual({ x: [], series: [] });
  });
});
