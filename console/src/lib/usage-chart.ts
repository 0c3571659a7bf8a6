/**
 * Usage buckets (sparse, oldest first) -> the dense columns uPlot draws: one x value per bucket of
 * the range, and one series per outcome that occurred, with zeros where there was no traffic.
 */
import { OUTCOMES, type UsageBucket } from "./types";

export const GRANULARITY_SECONDS = { minute: 60, hour: 3_600, day: 86_400 } as const;
export type Granularity = keyof typeof GRANULARITY_SECONDS;

export interface ChartData {
  /** Bucket starts, unix seconds. */
  x: number[];
  series: { outcome: string; values: number[] }[];
}

/** Outcomes present in the buckets: known ones in the API's order, then any new ones by name. */
function outcomesOf(buckets: readonly UsageBucket[]): string[] {
  const seen = new Set<string>();
  for (const b of buckets) for (const [outcome, n] of Object.entries(b.outcomes)) if (n > 0) seen.add(outcome);
  const known = OUTCOMES.filter((o) => seen.has(o));
  const other = [...seen].filter((o) => !(OUTCOMES as readonly string[]).includes(o)).sort();
  return [...known, ...other];
}

export function chartData(buckets: readonly UsageBucket[], from: number, to: number, granularity: Granularity): ChartData {
  if (to <= from) return { x: [], series: [] };
  const step = GRANULARITY_SECONDS[granularity];
  const first = Math.floor(from / step) * step;
  const x: number[] = [];
  for (let t = first; t < to; t += step) x.push(t);
  const index = new Map(x.map((t, i) => [t, i]));
  const outcomes = outcomesOf(buckets);
  const series = outcomes.map((outcome) => ({ outcome, values: new Array<number>(x.length).fill(0) }));
  for (const b of buckets) {
    const i = index.get(Math.floor(b.start / step) * step);
    if (i === undefined) continue;
    for (const s of series) s.values[i] = (s.values[i] ?? 0) + (b.outcomes[s.outcome] ?? 0);
  }
  return { x, series };
}
