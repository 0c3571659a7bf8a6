/**
 * A limit group's policies as its counter holds them, built from the group's row: its rate limits
 * named `group.<name>` and its quota `group.quota` (src/vocab/quotas.mjs), so they never share a
 * name with a key's own in one response's RateLimit fields.
 */
import type { RateLimit } from "../keys/requests";
import type { CountedPolicy } from "../lib/periods";
import { rateLimitPolicyField } from "../vocab/headers.mjs";
import { GROUP_ITEM_PREFIX, GROUP_QUOTA_ITEM, type Quota } from "../vocab/quotas.mjs";

/** A limit group's policies as its counter holds them. */
export interface GroupConfig {
  /** The group's tenant ("" for a group that does not exist). */
  tenant: string;
  limits: CountedPolicy[];
  /** The RateLimit-Policy items for them. */
  policyHeader: string;
  /** The group row's updated_at (unix seconds) these were read at; a push never goes back to older ones. */
  version: number;
  /** When they were last read from D1 or pushed (ms). */
  checkedAtMs: number;
}

/** A group's counter re-reads its policies from D1 when they are older than this (a push that failed is repaired then). */
export const GROUP_CONFIG_MAX_AGE_MS = 10_000;

export function groupPolicies(rateLimits: readonly RateLimit[] | null, quota: Quota | null): CountedPolicy[] {
  const policies: CountedPolicy[] = (rateLimits ?? []).map((l) => ({ ...l, name: `${GROUP_ITEM_PREFIX}${l.name}` }));
  if (quota) policies.push({ name: GROUP_QUOTA_ITEM, limit: quota.limit, period: quota.period });
  return policies;
}

/** What a group's counter is configured with, from the group's columns. */
export function groupConfigOf(row: {
  tenantId: string;
  rateLimits: RateLimit[] | null;
  quota: Quota | null;
  updatedAt: number;
}): Omit<GroupConfig, "checkedAtMs"> {
  const limits = groupPolicies(row.rateLimits, row.quota);
  return { tenant: row.tenantId, limits, policyHeader: rateLimitPolicyField(limits), version: row.updatedAt };
}

/** The group's policies from D1; a group that does not exist (deleted) has none. */
export async function loadGroupConfig(db: D1Database, groupId: string): Promise<Omit<GroupConfig, "checkedAtMs">> {
  const row = await db
    .prepare("SELECT tenant_id, rate_limits, quota, updated_at FROM limit_groups WHERE id = ?")
    .bind(groupId)
    .first<{ tenant_id: string; rate_limits: string | null; quota: string | null; updated_at: number }>();
  // Group ids are never reused: a deleted group has no policies, for good.
  if (row === null) return { tenant: "", limits: [], policyHeader: "", version: Number.MAX_SAFE_INTEGER };
  return groupConfigOf({
    tenantId: row.tenant_id,
    rateLimits: row.rate_limits === null ? null : (JSON.parse(row.rate_limits) as RateLimit[]),
    quota: row.quota === null ? null : (JSON.parse(row.quota) as Quota),
    updatedAt: row.updated_at,
  });
}
