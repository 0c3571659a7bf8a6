/** The least-privilege report as the console reads it: every page of it, and what narrowing a key changes. */
import { type ApiClient, parseJson, tenantPath } from "./api";
import type { KeyScopeUsage, ScopeReport } from "./types";

/** Report pages read before the page says it stopped. */
const MAX_PAGES = 20;
const PAGE_LIMIT = 1000;
export const REPORT_DAYS = 30;

/** The whole report (every page of findings), and whether it stopped early. */
export async function loadScopeReport(api: ApiClient, tenant: string, days = REPORT_DAYS): Promise<ScopeReport & { truncated: boolean }> {
  const pages = await allPages<ScopeReport>(api, tenantPath(tenant, "scope-report"), { days, limit: PAGE_LIMIT });
  const first = pages.bodies[0] as ScopeReport;
  return { window: first.window, keys: pages.bodies.flatMap((b) => b.keys), truncated: pages.truncated };
}

/** A key's scope usage, every scope (they come a page at a time). */
export async function loadScopeUsage(api: ApiClient, tenant: string, keyId: string, days = REPORT_DAYS): Promise<KeyScopeUsage> {
  const pages = await allPages<KeyScopeUsage>(api, tenantPath(tenant, "api-keys", keyId, "scope-usage"), { days });
  const first = pages.bodies[0] as KeyScopeUsage;
  return { ...first, scopes: pages.bodies.flatMap((b) => b.scopes) };
}

async function allPages<T>(
  api: ApiClient,
  path: string,
  query: Record<string, string | number>,
): Promise<{ bodies: T[]; truncated: boolean }> {
  const bodies: T[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < MAX_PAGES; page++) {
    const res: Response = await api.send("GET", path, { query: { ...query, cursor } });
    bodies.push(parseJson(await res.text()) as T);
    cursor = res.headers.get("x-next-cursor");
    if (!cursor) return { bodies, truncated: false };
  }
  return { bodies, truncated: true };
}

/** What narrowing changes: the scopes the key keeps, those it loses, and those that replace a wildcard or admin:all. */
export function narrowingPreview(usage: Pick<KeyScopeUsage, "scopes" | "exercised_scopes">): {
  kept: string[];
  removed: string[];
  added: string[];
} {
  const held = usage.scopes.map((s) => s.scope);
  const after = usage.exercised_scopes;
  return {
    kept: held.filter((s) => after.includes(s)),
    removed: held.filter((s) => !after.includes(s)),
    added: after.filter((s) => !held.includes(s)),
  };
}
