/**
 * The usage-driven detectors (volume, revoked_key_used, rate_limited, refusal_burst, new_ip): what
 * they read before a batch is applied, and the alert statements that run in the roll-up's own
 * transaction, each gated in SQL on the counts as they stand after the batch.
 */
import { type SQL, sql } from "drizzle-orm";
import { alertStatements, alertsStatements, type NewAlert } from "../alerts/events";
import type { TenantSettings } from "../alerts/settings";
import { jsonChunks, jsonColumns } from "../db/statements";
import type { Aggregate, SeenIp } from "./aggregate";

/** Client IPs the batch shows for keys that already had others (a key's first IP is its baseline). */
export async function newIps(d1: D1Database, ips: Map<string, SeenIp>): Promise<SeenIp[]> {
  const byKey = new Map<string, SeenIp[]>();
  for (const seen of ips.values()) byKey.set(seen.keyId, [...(byKey.get(seen.keyId) ?? []), seen]);
  if (byKey.size === 0) return [];
  const known = new Map<string, Set<string>>();
  for (const chunk of jsonChunks([...byKey.keys()])) {
    const { results } = await d1
      .prepare("SELECT key_id, ip FROM key_ips WHERE key_id IN (SELECT value FROM json_each(?))")
      .bind(chunk)
      .all<{ key_id: string; ip: string }>();
    for (const row of results) known.set(row.key_id, (known.get(row.key_id) ?? new Set()).add(row.ip));
  }
  const fresh: SeenIp[] = [];
  for (const [keyId, seen] of byKey) {
    const had = known.get(keyId);
    const unseen = seen.filter((s) => !had?.has(s.ip)).sort((a, b) => a.first - b.first);
    // With no known IP yet, the earliest IP of this batch is the baseline.
    fresh.push(...(had && had.size > 0 ? unseen : unseen.slice(1)));
  }
  return fresh;
}

/** The hour counts the detectors compare, as they stand before this batch (keyed like `aggregate`'s maps). */
export async function priorHourCounts(d1: D1Database, agg: Aggregate) {
  const keys = new Map<string, number>();
  const tenants = new Map<string, number>();
  const clients = new Map<string, number>();
  const queries: D1PreparedStatement[] = [];
  for (const chunk of jsonChunks([...agg.keyHours.values()].map((k) => [k.keyId, k.hour]))) {
    queries.push(
      d1
        .prepare(
          `SELECT key_id || '|' || bucket AS k, SUM(count) AS n FROM usage_counts WHERE granularity = 'hour' AND (key_id, bucket) IN (SELECT ${jsonColumns(2)} FROM json_each(?)) GROUP BY key_id, bucket`,
        )
        .bind(chunk),
    );
  }
  for (const chunk of jsonChunks([...agg.tenantHours.keys()].map((k) => k.split("|")).map(([t, h]) => [t, Number(h)]))) {
    queries.push(
      d1
        .prepare(
          `SELECT 't|' || tenant_id || '|' || bucket AS k, SUM(count) AS n FROM usage_counts WHERE granularity = 'hour' AND outcome <> 'accepted' AND (tenant_id, bucket) IN (SELECT ${jsonColumns(2)} FROM json_each(?)) GROUP BY tenant_id, bucket`,
        )
        .bind(chunk),
    );
  }
  const clientHours = [...agg.clients.keys()].map((k) => k.split("|") as [string, string, string]).filter(([, t]) => t !== "");
  for (const chunk of jsonChunks(clientHours.map(([h, t, ip]) => [Number(h), t, ip]))) {
    queries.push(
      d1
        .prepare(
          `SELECT 'c|' || hour || '|' || tenant_id || '|' || ip AS k, count AS n FROM client_refusals WHERE (hour, tenant_id, ip) IN (SELECT ${jsonColumns(3)} FROM json_each(?))`,
        )
        .bind(chunk),
    );
  }
  if (queries.length === 0) return { keys, tenants, clients };
  for (const result of await d1.batch<{ k: string; n: number }>(queries)) {
    for (const { k, n } of result.results) {
      if (k.startsWith("t|")) tenants.set(k.slice(2), n);
      else if (k.startsWith("c|")) clients.set(k.slice(2), n);
      else keys.set(k, n);
    }
  }
  return { keys, tenants, clients };
}

export function detectorStatements(
  d1: D1Database,
  agg: Aggregate,
  prior: Awaited<ReturnType<typeof priorHourCounts>>,
  fresh: SeenIp[],
  settings: Map<string, TenantSettings>,
  now: number,
): D1PreparedStatement[] {
  const statements: D1PreparedStatement[] = [];
  // Alerts without a condition go out together, two statements however many (alertsStatements).
  const unconditional: NewAlert[] = [];
  const raise = (alert: Omit<NewAlert, "now">, condition?: SQL) => {
    if (condition === undefined) unconditional.push({ ...alert, now });
    else statements.push(...alertStatements(d1, { ...alert, now }, condition));
  };
  // Each alert is gated in SQL on the counts inside the transaction; the estimate from `prior` only
  // skips statements that cannot fire and fills in the details.
  for (const { tenant, keyId, hour, n, outcomes } of agg.keyHours.values()) {
    const s = settings.get(tenant);
    if (!s) continue;
    const requests = (prior.keys.get(`${keyId}|${hour}`) ?? 0) + n;
    if (requests > s.volume_per_hour) {
      raise(
        { tenant, type: "volume", keyId, dedupeKey: `volume:${keyId}:${hour}`, details: { requests, threshold: s.volume_per_hour, hour } },
        sql`(SELECT COALESCE(SUM(count), 0) FROM usage_counts WHERE granularity = 'hour' AND tenant_id = ${tenant} AND key_id = ${keyId} AND bucket = ${hour}) > ${s.volume_per_hour}`,
      );
    }
    for (const state of ["revoked", "rotated"] as const) {
      if (outcomes.has(state)) {
        raise({ tenant, type: "revoked_key_used", keyId, dedupeKey: `revoked_key_used:${keyId}:${hour}`, details: { state, hour } });
      }
    }
    if (outcomes.has("rate_limited")) {
      raise({ tenant, type: "rate_limited", keyId, dedupeKey: `rate_limited:${keyId}:${hour}`, details: { hour } });
    }
  }
  for (const [key, n] of agg.tenantHours) {
    const [tenant, hourText] = key.split("|") as [string, string];
    const hour = Number(hourText);
    const s = settings.get(tenant);
    const refusals = (prior.tenants.get(key) ?? 0) + n;
    if (!s || refusals <= s.refusals_per_hour) continue;
    raise(
      {
        tenant,
        type: "refusal_burst",
        keyId: null,
        dedupeKey: `refusal_burst:${tenant}:${hour}`,
        details: { refusals, threshold: s.refusals_per_hour, hour },
      },
      sql`(SELECT COALESCE(SUM(count), 0) FROM usage_counts WHERE granularity = 'hour' AND tenant_id = ${tenant} AND bucket = ${hour} AND outcome <> 'accepted') > ${s.refusals_per_hour}`,
    );
  }
  for (const [key, n] of agg.clients) {
    const [hourText, tenant, ip] = key.split("|") as [string, string, string];
    const s = settings.get(tenant);
    const refusals = (prior.clients.get(key) ?? 0) + n;
    if (tenant === "" || !s || refusals <= s.refusals_per_hour) continue;
    const hour = Number(hourText);
    raise(
      {
        tenant,
        type: "refusal_burst",
        keyId: null,
        dedupeKey: `refusal_burst:${tenant}:${ip}:${hour}`,
        details: { refusals, threshold: s.refusals_per_hour, hour, client_ip: ip },
      },
      sql`(SELECT count FROM client_refusals WHERE hour = ${hour} AND tenant_id = ${tenant} AND ip = ${ip}) > ${s.refusals_per_hour}`,
    );
  }
  for (const seen of fresh) {
    if (!settings.get(seen.tenant)?.new_ip) continue;
    raise(
      {
        tenant: seen.tenant,
        type: "new_ip",
        keyId: seen.keyId,
        dedupeKey: `new_ip:${seen.keyId}:${seen.ip}`,
        details: { ip: seen.ip, country: seen.country, first_seen: seen.first },
      },
      // Another consumer may have recorded this IP since we looked.
      sql`NOT EXISTS (SELECT 1 FROM key_ips WHERE key_id = ${seen.keyId} AND ip = ${seen.ip})`,
    );
  }
  statements.push(...alertsStatements(d1, unconditional));
  return statements;
}
