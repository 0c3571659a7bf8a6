/**
 * quota_low and quota_exhausted: raised for the counter (src/ratelimit/counter.ts), the one place
 * that knows exactly when a quota crosses the tenant's quota_low_percent or runs out. Once per quota
 * and period (the counter keeps what it raised; the alert's dedupe key holds it in D1 too), off the
 * lease's path: the lease answers first, the alert is written after (DurableObjectState.waitUntil).
 * The counter sits below this feature, so the entry point hands it this function (src/index.ts).
 */
import { database } from "../db/client";
import type { Env } from "../env";
import type { QuotaAlertCandidate } from "../ratelimit/counter";
import { enqueueDeliveries } from "../webhooks/deliver";
import { raiseAlert } from "./raise";
import { tenantSettingsOf } from "./settings";

/** Tenant settings are read at most this often per counter. */
const SETTINGS_MAX_AGE_MS = 60_000;
const lowPercents = new Map<string, { percent: number; atMs: number }>();

async function lowPercent(env: Env, tenant: string, nowMs: number): Promise<number> {
  const cached = lowPercents.get(tenant);
  if (cached && nowMs - cached.atMs < SETTINGS_MAX_AGE_MS) return cached.percent;
  const percent = (await tenantSettingsOf(database(env.DB), tenant)).quota_low_percent;
  if (lowPercents.size > 1000) lowPercents.clear();
  lowPercents.set(tenant, { percent, atMs: nowMs });
  return percent;
}

/**
 * Whether a grant that left a quota at `remaining` calls for quota_low (the percent is the
 * tenant's; an exhausted quota is quota_exhausted's business).
 */
export async function raiseQuotaAlert(env: Env, c: QuotaAlertCandidate, nowMs: number): Promise<boolean> {
  if (c.type === "quota_low") {
    const percent = await lowPercent(env, c.tenant, nowMs);
    if (percent === 0 || c.remaining * 100 > (c.limit + c.credited) * percent) return false;
  }
  const keyId = c.subject.kind === "key" ? c.subject.id : null;
  await raiseAlert(database(env.DB), (deliveries) => enqueueDeliveries(env.WEBHOOK_QUEUE, deliveries), {
    tenant: c.tenant,
    type: c.type,
    keyId,
    dedupeKey: `${c.type}:${c.subject.id}:${c.name}:${c.window}`,
    details: {
      ...(c.subject.kind === "group" ? { limit_group: c.subject.id } : {}),
      quota: c.name,
      limit: c.limit,
      credited: c.credited,
      remaining: c.remaining,
      resets_at: c.resetsAt === null ? null : Math.floor(c.resetsAt / 1000),
    },
    now: Math.floor(nowMs / 1000),
  });
  return true;
}
