/**
 * The least-privilege report: which of a key's scopes it exercised within a window of days, from
 * scope_usage (written by the usage roll-up for gateway requests, and here for management calls).
 *
 * A recorded scope is the one a route rule asked for. It is credited to the key's own scope of
 * that name; else to the wildcard that covers it (`deploy:*`); else to admin:all. So a held
 * wildcard or admin:all is "exercised as" the concrete scopes it stood in for, and narrowing
 * replaces it with exactly those.
 *
 * What it cannot know: a scope not needed within the window (a quarterly job) reads as
 * unexercised; requests lost before the roll-up (docs/governance.md) are not counted.
 */
import { and, gte, sql } from "drizzle-orm";
import * as z from "zod/mini";
import { ADMIN_ALL_SCOPE } from "../config/keys";
import { database } from "../db/client";
import { type ApiKeyRow, scopeUsage } from "../db/schema";
import { covers, isWildcard } from "../keys/scopes";
import { isolateCache, setBounded } from "../lib/bounded-map";
import { SCOPE_USAGE_RETENTION_DAYS } from "../usage/retention";

export const SECONDS_PER_DAY = 86_400;
export const DEFAULT_WINDOW_DAYS = 30;
/** As far back as scope_usage is kept (shorter when USAGE_RETENTION_DAY_DAYS is). */
export const MAX_WINDOW_DAYS = SCOPE_USAGE_RETENTION_DAYS;

/** The window a report covers: whole UTC days, today included. */
export interface ReportWindow {
  days: number;
  /** Unix seconds: 00:00 UTC of the first day. */
  from: number;
  to: number;
}

export function windowOf(days: number, now: number): ReportWindow {
  const today = now - (now % SECONDS_PER_DAY);
  return { days, from: today - (days - 1) * SECONDS_PER_DAY, to: now };
}

export const windowSchema = z.strictObject({
  days: z.int().check(z.describe("The window's length in days (today included).")),
  from: z.int().check(z.describe("Unix seconds: 00:00 UTC of the window's first day.")),
  to: z.int().check(z.describe("Unix seconds: when the report was made.")),
});

export const scopeUsageRowSchema = z
  .strictObject({
    scope: z.string().check(z.describe("A scope the key holds.")),
    exercised: z.boolean(),
    count: z.int().check(z.describe("Requests it satisfied within the window.")),
    last_exercised: z.nullable(z.int()).check(z.describe("Unix seconds of the latest, or null.")),
    exercised_as: z.optional(
      z.array(z.string()).check(z.describe("For a wildcard or admin:all: the scopes the rules asked for that it satisfied.")),
    ),
  })
  .register(z.globalRegistry, { id: "ScopeUsage", description: "One scope of a key: whether, how often and when it was last exercised." });

export type ScopeUsageRow = z.output<typeof scopeUsageRowSchema>;

export interface Recorded {
  scope: string;
  count: number;
  last: number;
}

/** The held scope a recorded one is credited to: itself, the first wildcard covering it, admin:all; or none. */
function creditedTo(held: readonly string[], recorded: string): string | undefined {
  if (held.includes(recorded)) return recorded;
  const wildcard = held.find((h) => isWildcard(h) && covers([h], recorded));
  if (wildcard !== undefined) return wildcard;
  return held.includes(ADMIN_ALL_SCOPE) ? ADMIN_ALL_SCOPE : undefined;
}

/** Every held scope with its use; and the scopes a narrowed key would hold (those the rules asked for, credited to a held scope). */
export function usageOfScopes(held: readonly string[], recorded: readonly Recorded[]): { rows: ScopeUsageRow[]; exercised: string[] } {
  const byHeld = new Map<string, { count: number; last: number | null; as: Set<string> }>();
  for (const scope of held) byHeld.set(scope, { count: 0, last: null, as: new Set() });
  const exercised = new Set<string>();
  for (const r of recorded) {
    const to = creditedTo(held, r.scope);
    const entry = to === undefined ? undefined : byHeld.get(to);
    // A scope the key no longer holds (recorded before a rotation narrowed it) is nobody's.
    if (entry === undefined) continue;
    entry.count += r.count;
    entry.last = Math.max(entry.last ?? 0, r.last);
    entry.as.add(r.scope);
    exercised.add(r.scope);
  }
  const rows = held.map((scope) => {
    const e = byHeld.get(scope) ?? { count: 0, last: null, as: new Set<string>() };
    const row: ScopeUsageRow = { scope, exercised: e.count > 0, count: e.count, last_exercised: e.last };
    if (scope === ADMIN_ALL_SCOPE || isWildcard(scope)) row.exercised_as = [...e.as].sort();
    return row;
  });
  return { rows, exercised: [...exercised].sort() };
}

/** What scope_usage holds for these keys (a page of them: one JSON parameter) within the window, per key. */
export async function recordedUsage(d1: D1Database, keyIds: readonly string[], from: number): Promise<Map<string, Recorded[]>> {
  const out = new Map<string, Recorded[]>();
  if (keyIds.length === 0) return out;
  const rows = await database(d1)
    .select({
      keyId: scopeUsage.keyId,
      scope: scopeUsage.scope,
      count: sql<number>`SUM(${scopeUsage.count})`,
      last: sql<number>`MAX(${scopeUsage.lastAt})`,
    })
    .from(scopeUsage)
    .where(and(sql`${scopeUsage.keyId} IN (SELECT value FROM json_each(${JSON.stringify(keyIds)}))`, gte(scopeUsage.day, from)))
    .groupBy(scopeUsage.keyId, scopeUsage.scope);
  for (const row of rows) out.set(row.keyId, [...(out.get(row.keyId) ?? []), { scope: row.scope, count: row.count, last: row.last }]);
  return out;
}

export const keyScopeUsageSchema = z
  .strictObject({
    key_id: z.string(),
    window: windowSchema,
    scopes: z.array(scopeUsageRowSchema).check(z.describe("A page of the key's scopes, by name.")),
    exercised_scopes: z
      .array(z.string())
      .check(z.describe("The scopes the key's requests were judged by within the window: what `narrow` would leave it.")),
  })
  .register(z.globalRegistry, { id: "KeyScopeUsage", description: "Which of a key's scopes it exercised within the window." });

export const scopeReportEntrySchema = z
  .strictObject({
    key_id: z.string(),
    name: z.string(),
    created_at: z.int().check(z.describe("A key younger than the window had less time to exercise its scopes.")),
    last_used: z.nullable(z.int()),
    unused: z.boolean().check(z.describe("Not used at all within the window (or never).")),
    scopes: z.array(z.string()),
    unexercised_scopes: z.array(z.string()),
    exercised_scopes: z.array(z.string()),
  })
  .register(z.globalRegistry, {
    id: "ScopeReportEntry",
    description: "A key holding scopes it has not exercised within the window, or not used at all.",
  });

export const scopeReportSchema = z
  .strictObject({
    window: windowSchema,
    keys: z.array(scopeReportEntrySchema),
  })
  .register(z.globalRegistry, { id: "ScopeReport", description: "A tenant's least-privilege report for one page of its active keys." });

export type ScopeReportEntry = z.output<typeof scopeReportEntrySchema>;

/** A key's report entry, or undefined when it exercised every scope it holds and was used within the window. */
export function reportEntry(
  key: Pick<ApiKeyRow, "id" | "name" | "scopes" | "createdAt" | "lastUsed">,
  recorded: readonly Recorded[],
  window: ReportWindow,
): ScopeReportEntry | undefined {
  const { rows, exercised } = usageOfScopes(key.scopes, recorded);
  const unexercised = rows.filter((r) => !r.exercised).map((r) => r.scope);
  const unused = key.lastUsed === null || key.lastUsed < window.from;
  if (unexercised.length === 0 && !unused) return undefined;
  return {
    key_id: key.id,
    name: key.name,
    created_at: key.createdAt,
    last_used: key.lastUsed,
    unused,
    scopes: key.scopes,
    unexercised_scopes: unexercised,
    exercised_scopes: exercised,
  };
}

/** Management calls recorded per key and scope per isolate at most this often (the scope's count is then a lower bound). */
const MANAGEMENT_RECORD_INTERVAL_SECONDS = 60;
const MAX_TRACKED = 20_000;
const lastRecorded = isolateCache<string, number>("management-scope-usage", MAX_TRACKED);

/**
 * A management key's call credited to the management scope that let it in (keys:read, keys:manage,
 * keys:introspect; or, through admin:all, the first of them the route asked for): at most one D1
 * write per key and scope per MANAGEMENT_RECORD_INTERVAL_SECONDS per isolate, after the response.
 */
export function recordManagementScope(
  d1: D1Database,
  ctx: Pick<ExecutionContext, "waitUntil">,
  key: { tenant: string; keyId: string },
  scope: string,
  now: number,
): void {
  const id = `${key.keyId}|${scope}`;
  const previous = lastRecorded.get(id);
  if (previous !== undefined && now - previous < MANAGEMENT_RECORD_INTERVAL_SECONDS) return;
  setBounded(lastRecorded, id, now, MAX_TRACKED);
  const day = now - (now % SECONDS_PER_DAY);
  ctx.waitUntil(
    database(d1)
      .insert(scopeUsage)
      .values({ tenantId: key.tenant, keyId: key.keyId, scope, day, count: 1, lastAt: now })
      .onConflictDoUpdate({
        target: [scopeUsage.keyId, scopeUsage.scope, scopeUsage.day],
        set: { count: sql`${scopeUsage.count} + 1`, lastAt: sql`MAX(${scopeUsage.lastAt}, excluded.last_at)` },
      })
      .run()
      .then(
        () => undefined,
        (err) => {
          lastRecorded.delete(id);
          console.error("recording a management key's scope use failed", err);
        },
      ),
  );
}
