/**
 * Per-tenant alert settings and the leak policy: what the detectors compare with and what a leak
 * report does. Defaults are the seed's ("more than 1,000 requests an hour", "access from a new IP")
 * and live here only; D1 stores what a tenant changed (NULL = default).
 */
import { eq, sql } from "drizzle-orm";
import * as z from "zod/mini";
import type { Db } from "../db/client";
import { tenantSettings } from "../db/schema";
import { jsonChunks, jsonRows } from "../db/statements";
import { ApiError } from "../errors";
import { boundedInt, oneOf } from "../http/validate";
import { LEAK_ACTIONS, type LeakAction } from "../vocab/events.mjs";
import { DEFAULT_QUOTA_LOW_PERCENT } from "../vocab/quotas.mjs";

export const DEFAULT_SETTINGS = {
  volume_per_hour: 1000,
  new_ip: true,
  refusals_per_hour: 100,
  expiring_within_days: 7,
  unused_days: 90,
  leak_action: "revoke" as LeakAction,
  quota_low_percent: DEFAULT_QUOTA_LOW_PERCENT,
  /** The unused-key policy (src/governance/unused-policy.ts): off by default. */
  revoke_unused_after_days: 0,
  unused_notice_days: 7,
};

export type TenantSettings = typeof DEFAULT_SETTINGS;

export const settingsSchema = z
  .strictObject({
    volume_per_hour: boundedInt("volume_per_hour", 1, 1_000_000_000).check(
      z.describe("volume: one key makes more than this many requests in an hour."),
    ),
    new_ip: z
      .boolean({ error: "new_ip must be true or false" })
      .check(z.describe("new_ip: a key is used from a client IP not seen for it before.")),
    refusals_per_hour: boundedInt("refusals_per_hour", 1, 1_000_000_000).check(
      z.describe("refusal_burst: more refused attempts than this in an hour against the tenant or from one client."),
    ),
    expiring_within_days: boundedInt("expiring_within_days", 0, 3650).check(
      z.describe("key_expiring: a key expires within this many days (0: off)."),
    ),
    unused_days: boundedInt("unused_days", 0, 36_500).check(z.describe("key_unused: a key has not been used for this many days (0: off).")),
    leak_action: oneOf("leak_action", LEAK_ACTIONS).check(
      z.describe("What a genuine leak report does to a live key: revoke it at once, or only notify."),
    ),
    quota_low_percent: boundedInt("quota_low_percent", 0, 99).check(
      z.describe("quota_low: a key's or limit group's quota is down to this percent of its period's calls (0: off)."),
    ),
    revoke_unused_after_days: boundedInt("revoke_unused_after_days", 0, 36_500).check(
      z.describe(
        "The unused-key policy: the cron revokes an active key unused (or never used, counted from its creation) for this many days, actor `policy`, reason `unused` (0: off). Keys with exempt_from_unused_policy are never revoked.",
      ),
    ),
    unused_notice_days: boundedInt("unused_notice_days", 0, 36_500).check(
      z.describe(
        "key_unused (and its webhooks) is raised this many days before the policy revokes a key; less than revoke_unused_after_days.",
      ),
    ),
  })
  .register(z.globalRegistry, { id: "AlertSettings", description: "A tenant's alert thresholds and leak policy." });

/** PUT takes any subset of the settings. */
export const settingsUpdateSchema = z.partial(settingsSchema);

/** A tenant's settings, defaults filled in. */
export async function tenantSettingsOf(db: Db, tenant: string): Promise<TenantSettings> {
  return withDefaults(await db.query.tenantSettings.findFirst({ where: eq(tenantSettings.tenantId, tenant) }));
}

/** Tenants per query: the ids travel as one JSON parameter. */
export const TENANTS_PER_QUERY = jsonRows(1_000);

/** Many tenants' settings, defaults filled in, in one query per TENANTS_PER_QUERY (the usage roll-up's). */
export async function tenantSettingsOfMany(db: Db, tenants: readonly string[]): Promise<Map<string, TenantSettings>> {
  const rows = new Map<string, TenantSettingsRow>();
  for (const ids of jsonChunks(tenants, TENANTS_PER_QUERY)) {
    const found = await db.select().from(tenantSettings).where(sql`${tenantSettings.tenantId} IN (SELECT value FROM json_each(${ids}))`);
    for (const row of found) rows.set(row.tenantId, row);
  }
  return new Map(tenants.map((t) => [t, withDefaults(rows.get(t))]));
}

type TenantSettingsRow = typeof tenantSettings.$inferSelect;

function withDefaults(row: TenantSettingsRow | undefined): TenantSettings {
  return {
    volume_per_hour: row?.volumePerHour ?? DEFAULT_SETTINGS.volume_per_hour,
    new_ip: row?.newIp ?? DEFAULT_SETTINGS.new_ip,
    refusals_per_hour: row?.refusalsPerHour ?? DEFAULT_SETTINGS.refusals_per_hour,
    expiring_within_days: row?.expiringWithinDays ?? DEFAULT_SETTINGS.expiring_within_days,
    unused_days: row?.unusedDays ?? DEFAULT_SETTINGS.unused_days,
    leak_action: row?.leakAction ?? DEFAULT_SETTINGS.leak_action,
    quota_low_percent: row?.quotaLowPercent ?? DEFAULT_SETTINGS.quota_low_percent,
    revoke_unused_after_days: row?.revokeUnusedAfterDays ?? DEFAULT_SETTINGS.revoke_unused_after_days,
    unused_notice_days: row?.unusedNoticeDays ?? DEFAULT_SETTINGS.unused_notice_days,
  };
}

/** Stores the changed settings and returns the tenant's settings after the change; a 400 for a notice not before the revocation. */
export async function updateTenantSettings(db: Db, tenant: string, update: Partial<TenantSettings>, now: number): Promise<TenantSettings> {
  if (update.revoke_unused_after_days !== undefined || update.unused_notice_days !== undefined) {
    const merged = { ...(await tenantSettingsOf(db, tenant)), ...update };
    if (merged.revoke_unused_after_days > 0 && merged.unused_notice_days >= merged.revoke_unused_after_days) {
      throw new ApiError(
        "invalid_request",
        `unused_notice_days (${merged.unused_notice_days}) must be less than revoke_unused_after_days (${merged.revoke_unused_after_days})`,
      );
    }
  }
  const set = {
    volumePerHour: update.volume_per_hour,
    newIp: update.new_ip,
    refusalsPerHour: update.refusals_per_hour,
    expiringWithinDays: update.expiring_within_days,
    unusedDays: update.unused_days,
    leakAction: update.leak_action,
    quotaLowPercent: update.quota_low_percent,
    revokeUnusedAfterDays: update.revoke_unused_after_days,
    unusedNoticeDays: update.unused_notice_days,
    updatedAt: now,
  };
  await db
    .insert(tenantSettings)
    .values({ tenantId: tenant, ...set })
    .onConflictDoUpdate({
      target: tenantSettings.tenantId,
      set: Object.fromEntries(Object.entries(set).filter(([, v]) => v !== undefined)),
    });
  return tenantSettingsOf(db, tenant);
}
