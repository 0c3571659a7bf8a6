import { absoluteTime, relativeTime } from "../lib/format";

/**
 * A time as "3 days ago", with the exact UTC time on hover and for assistive technology. `now`
 * ticks every 30 s to keep idle pages true; a render in between uses the clock, so a key created a
 * moment ago never reads "in 2 seconds".
 */
export function Time({ at, now, never = "never" }: { at: number | null | undefined; now: number; never?: string }) {
  if (at === null || at === undefined) return <span class="muted">{never}</span>;
  const exact = absoluteTime(at);
  return (
    <time dateTime={new Date(at * 1000).toISOString()} title={exact}>
      {relativeTime(at, Math.max(now, Math.floor(Date.now() / 1000)))}
    </time>
  );
}
