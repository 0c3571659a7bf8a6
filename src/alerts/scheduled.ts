/**
 * The time-driven detectors, run by the cron: keys that expire soon (key_expiring) and keys unused
 * for too long (key_unused), each tenant with its own settings. Each alert is raised once per
 * condition: once per key and expiry date, once per key and idle period.
 */
import type { Db } from "../db/client";
import type { AlertType } from "../vocab/events.mjs";
import { keyDisplayStatusSql } from "../vocab/key-status.mjs";
import { deliveryIdsOf } from "../webhooks/outbox";
import { alertsStatements, type NewAlert } from "./events";
import { DEFAULT_SETTINGS } from "./settings";

const SECONDS_PER_DAY = 86_400;
/**
 * Keys handled per cron run and detector; the rest are found by the next run. The alerts and their
 * webhook deliveries are two multi-row statements (alertsStatements): a run is 4 D1 queries.
 */
const BATCH_LIMIT = 100;

interface Candidate {
  id: string;
  tenant_id: string;
  name: string;
  expires_at: number | null;
  last_used: number | null;
  created_at: number;
  days: number;
}

/**
 * Keys whose status people see as "active" (src/vocab/key-status.mjs): not revoked, expired or
 * rotated, and not in a rotation's grace period either (that key is being replaced: its
 * replacement is the one watched). ?1 is now.
 */
const ACTIVE = keyDisplayStatusSql("active", "k.").join("?1");

export async function detectScheduled(db: Db, now: number): Promise<{ raised: number; deliveries: string[] }> {
  const d1 = db.$client;
  const expiring = await d1
    .prepare(
      `SELECT k.id, k.tenant_id, k.name, k.expires_at, k.last_used, k.created_at, COALESCE(s.expiring_within_days, ?2) AS days
       FROM api_keys k LEFT JOIN tenant_settings s ON s.tenant_id = k.tenant_id
       WHERE ${ACTIVE} AND k.expires_at IS NOT NULL AND COALESCE(s.expiring_within_days, ?2) > 0
         AND k.expires_at <= ?1 + COALESCE(s.expiring_within_days, ?2) * ${SECONDS_PER_DAY}
         AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.dedupe_key = 'key_expiring:' || k.id || ':' || k.expires_at)
       LIMIT ${BATCH_LIMIT}`,
    )
    .bind(now, DEFAULT_SETTINGS.expiring_within_days)
    .all<Candidate>();
  const unused = await d1
    .prepare(
      `SELECT k.id, k.tenant_id, k.name, k.expires_at, k.last_used, k.created_at, COALESCE(s.unused_days, ?2) AS days
       FROM api_keys k LEFT JOIN tenant_settings s ON s.tenant_id = k.tenant_id
       WHERE ${ACTIVE} AND COALESCE(s.unused_days, ?2) > 0
         AND COALESCE(k.last_used, k.created_at) <= ?1 - COALESCE(s.unused_days, ?2) * ${SECONDS_PER_DAY}
         AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.dedupe_key = 'key_unused:' || k.id || ':' || COALESCE(k.last_used, 'never'))
       LIMIT ${BATCH_LIMIT}`,
    )
    .bind(now, DEFAULT_SETTINGS.unused_days)
    .all<Candidate>();
  const alerts = [
    ...expiring.results.map((k) =>
      alertOf(k, "key_expiring", `key_expiring:${k.id}:${k.expires_at}`, now, {
        name: k.name,
        expires_at: k.expires_at,
        days_left: Math.max(0, Math.floor(((k.expires_at ?? now) - now) / SECONDS_PER_DAY)),
        threshold_days: k.days,
      }),
    ),
    ...unused.results.map((k) =>
      alertOf(k, "key_unused", `key_unused:${k.id}:${k.last_used ?? "never"}`, now, {
        name: k.name,
        last_used: k.last_used,
        unused_days: Math.floor((now - (k.last_used ?? k.created_at)) / SECONDS_PER_DAY),
        threshold_days: k.days,
      }),
    ),
  ];
  if (alerts.length === 0) return { raised: 0, deliveries: [] };
  const results = await d1.batch(alertsStatements(d1, alerts));
  return { raised: expiring.results.length + unused.results.length, deliveries: deliveryIdsOf(results) };
}

function alertOf(key: Candidate, type: AlertType, dedupeKey: string, now: number, details: Record<string, unknown>): NewAlert {
  return { tenant: key.tenant_id, type, keyId: key.id, dedupeKey, details, now };
}
