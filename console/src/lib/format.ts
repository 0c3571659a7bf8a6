/** Human-readable times and durations. Times from the API are unix seconds. */

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ["year", 365 * 86_400],
  ["month", 30 * 86_400],
  ["day", 86_400],
  ["hour", 3_600],
  ["minute", 60],
  ["second", 1],
];

/** "in 3 days", "5 minutes ago". */
export function relativeTime(unixSeconds: number, nowSeconds: number, locale?: string): string {
  const delta = unixSeconds - nowSeconds;
  const abs = Math.abs(delta);
  const rtf = new Intl.RelativeTimeFormat(locale, { numeric: "auto" });
  for (const [unit, seconds] of UNITS) {
    if (abs >= seconds || unit === "second") return rtf.format(Math.round(delta / seconds), unit);
  }
  return rtf.format(0, "second");
}

/** "2026-11-30 14:05 UTC": unambiguous for people in different time zones. */
export function absoluteTime(unixSeconds: number): string {
  return `${new Date(unixSeconds * 1000).toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** "30 days", "1 hour", "45 seconds". */
export function duration(seconds: number): string {
  for (const [unit, size] of UNITS) {
    if (seconds >= size && seconds % size === 0) {
      const n = seconds / size;
      return `${n} ${unit}${n === 1 ? "" : "s"}`;
    }
  }
  return `${seconds} seconds`;
}
