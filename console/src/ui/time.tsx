import { absoluteTime, relativeTime } from "../lib/format";

/** A time as "3 days ago", with the exact UTC time on hover and for assistive technology. */
export function Time({ at, now, never = "never" }: { at: number | null | undefined; now: number; never?: string }) {
  if (at === null || at === undefined) return <span class="muted">{never}</span>;
  const exact = absoluteTime(at);
  return (
    <time dateTime={new Date(at * 1000).toISOString()} title={exact}>
      {relativeTime(at, now)}
    </time>
  );
}
