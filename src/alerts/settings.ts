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
  };
}

/** Stores the changed settings and returns the tenant's settings after the change. */
export async function updateTenantSettings(db: Db, tenant: string, update: Partial<TenantSettings>, now: number): Promise<TenantSettings> {
  const set = {
    volumePerHour: update.volume_per_hour,
    newIp: update.new_ip,
    refusalsPerHour: update.refusals_per_hour,
    expiringWithinDays: update.expiring_within_days,
    unusedDays: update.unused_days,
    leakAction: update.leak_action,
    quotaLowPercent: update.quota_low_percent,
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
