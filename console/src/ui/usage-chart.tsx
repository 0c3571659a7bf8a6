/**
 * Requests per bucket by outcome, drawn by uPlot on a canvas. The canvas is hidden from assistive
 * technology; the totals table next to it carries the same numbers.
 */
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import type { ChartData } from "../lib/usage-chart";

/** Colors per outcome: accepted green, refusals warm, origin failures purple, the rest grey. */
const COLORS: Record<string, string> = {
  accepted: "#2e7d32",
  invalid: "#c62828",
  expired: "#8d6e63",
  revoked: "#ad1457",
  rotated: "#6d4c41",
  insufficient_scope: "#ef6c00",
  rate_limited: "#f9a825",
  ip_denied: "#d84315",
  throttled: "#5d4037",
  bad_gateway: "#6a1b9a",
  gateway_timeout: "#4527a0",
  rate_limit_unavailable: "#546e7a",
  quota_exceeded: "#ff8f00",
};
const CHART_HEIGHT_PX = 260;

export function UsageChart({ data, label }: { data: ChartData; label: string }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const opts: uPlot.Options = {
      width: Math.max(320, el.clientWidth),
      height: CHART_HEIGHT_PX,
      scales: { x: { time: true } },
      axes: [{}, { label: "requests", size: 60 }],
      series: [
        {},
        ...data.series.map((s) => ({
          label: s.outcome,
          stroke: COLORS[s.outcome] ?? "#455a64",
          width: 2,
          points: { show: data.x.length <= 48 },
        })),
      ],
    };
    const plot = new uPlot(opts, [data.x, ...data.series.map((s) => s.values)], el);
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(320, el.clientWidth), height: CHART_HEIGHT_PX }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [data]);
  return <div class="chart" ref={ref} role="img" aria-label={label} />;
}
