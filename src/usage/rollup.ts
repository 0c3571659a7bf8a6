/**
 * The usage queue's consumer: one queue message (a batch of events from one isolate) becomes one
 * D1 transaction that records the batch id, adds its counts to the per-minute, per-hour and per-day
 * roll-ups, updates the keys' client IPs, and runs the usage-driven detectors on the counts as they
 * stand after the batch (alerts and their webhook deliveries in the same transaction). A redelivered
 * message fails on its batch id and changes nothing, so counting is exact and idempotent per batch.
 *
 * Attribution: only events whose key signature verified carry a tenant and key. Everything else
 * (forged or garbage tokens, missing keys, public routes) is counted for the deployment (tenant ''
 * and key '') and per client, and can raise no tenant's alert.
 */
import { type SQL, sql } from "drizzle-orm";
import { ALERTS_PER_STATEMENT, alertStatements, alertsStatements, deliveryIdsOf, type NewAlert } from "../alerts/events";
import { TENANTS_PER_QUERY, type TenantSettings, tenantSettingsOfMany } from "../alerts/settings";
import { database } from "../db/client";
import type { UsageEvent, UsageMessage } from "./events";

export const GRANULARITIES = { minute: 60, hour: 3600, day: 86_400 } as const;
export type Granularity = keyof typeof GRANULARITIES;

function floorTo(seconds: number, step: number): number {
  return seconds - (seconds % step);
}

/**
 * Rows per multi-row statement. The rows travel as one JSON parameter (json_each), not as bound
 * parameters: D1 binds at most 100 per statement, which made a batch of 2,000 distinct keys about
 * 1,300 statements, over the 1,000 queries of one invocation. A value may be 2 MB; a row here is
 * under 200 bytes.
 */
const ROWS_PER_STATEMENT = 2_000;

/** `SELECT json_extract(value, '$[0]') AS column1, ...`: the columns VALUES would name. */
function jsonColumns(width: number): string {
  return Array.from({ length: width }, (_, i) => `json_extract(value, '$[${i}]') AS column${i + 1}`).join(", ");
}

/**
 * Multi-row statements: `head` SELECT <the rows' columns> FROM json_each(?) WHERE true `tail`, where
 * a VALUES list would go (an INSERT's rows, or a FROM (...) subquery); WHERE true keeps an INSERT's
 * ON CONFLICT unambiguous. One statement per ROWS_PER_STATEMENT rows, one bound parameter each.
 */
function multiRow(d1: D1Database, head: string, tail: string, rows: unknown[][]): D1PreparedStatement[] {
  if (rows.length === 0) return [];
  const columns = jsonColumns(rows[0]?.length ?? 1);
  const out: D1PreparedStatement[] = [];
  for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
    const chunk = rows.slice(i, i + ROWS_PER_STATEMENT);
    out.push(d1.prepare(`${head} SELECT ${columns} FROM json_each(?) WHERE true ${tail}`).bind(JSON.stringify(chunk)));
  }
  return out;
}

/** Chunks of ROWS_PER_STATEMENT, each as the one JSON parameter of an `IN (SELECT ... FROM json_each(?))`. */
function jsonChunks(values: unknown[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < values.length; i += ROWS_PER_STATEMENT) out.push(JSON.stringify(values.slice(i, i + ROWS_PER_STATEMENT)));
  return out;
}

function add<K>(map: Map<K, number>, key: K, n = 1): void {
  map.set(key, (map.get(key) ?? 0) + n);
}

interface SeenIp {
  tenant: string;
  keyId: string;
  ip: string;
  first: number;
  last: number;
  count: number;
  country: string | null;
}

/** What one batch adds, aggregated in memory before it becomes statements. */
function aggregate(events: readonly UsageEvent[]) {
  const counts = new Map<string, number>(); // granularity|tenant|key|bucket|outcome
  const clients = new Map<string, number>(); // hour|tenant|ip (refusals)
  const ips = new Map<string, SeenIp>(); // key|ip
  const lastUsed = new Map<string, number>(); // key -> its latest accepted request
  const keyHours = new Map<string, { tenant: string; keyId: string; hour: number; n: number; outcomes: Set<string> }>();
  const tenantHours = new Map<string, number>(); // tenant|hour -> refusals
  for (const [atMs, tenant, keyId, , , , outcome, ip, country] of events) {
    const at = Math.floor(atMs / 1000);
    const t = tenant ?? "";
    const k = keyId ?? "";
    for (const [granularity, step] of Object.entries(GRANULARITIES))
      add(counts, `${granularity}|${t}|${k}|${floorTo(at, step)}|${outcome}`);
    const hour = floorTo(at, GRANULARITIES.hour);
    const refused = outcome !== "accepted";
    if (refused && ip !== null) add(clients, `${hour}|${t}|${ip}`);
    if (tenant === null || keyId === null) continue;
    if (refused) add(tenantHours, `${tenant}|${hour}`);
    else if (at > (lastUsed.get(keyId) ?? 0)) lastUsed.set(keyId, at);
    const kh = `${keyId}|${hour}`;
    const entry = keyHours.get(kh) ?? { tenant, keyId, hour, n: 0, outcomes: new Set<string>() };
    entry.n++;
    entry.outcomes.add(outcome);
    keyHours.set(kh, entry);
    if (ip === null) continue;
    const seen = ips.get(`${keyId}|${ip}`);
    if (seen) {
      seen.first = Math.min(seen.first, at);
      if (at >= seen.last) {
        seen.last = at;
        seen.country = country ?? seen.country;
      }
      seen.count++;
    } else ips.set(`${keyId}|${ip}`, { tenant, keyId, ip, first: at, last: at, count: 1, country });
  }
  return { counts, clients, ips, keyHours, tenantHours, lastUsed };
}

/** Client IPs the batch shows for keys that already had others (a key's first IP is its baseline). */
async function newIps(d1: D1Database, ips: Map<string, SeenIp>): Promise<SeenIp[]> {
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
async function priorHourCounts(d1: D1Database, agg: ReturnType<typeof aggregate>) {
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

function detectorStatements(
  d1: D1Database,
  agg: ReturnType<typeof aggregate>,
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

/** Statements for `n` rows in chunks of `per` (one JSON parameter each). */
function statementsFor(n: number, per = ROWS_PER_STATEMENT): number {
  return Math.ceil(n / per);
}

/** The D1 queries rollUp reads with: batch ids, tenant settings, known IPs, prior hour counts. */
function readQueries(messages: number, agg: ReturnType<typeof aggregate>): number {
  const tenants = new Set([...agg.keyHours.values()].map((k) => k.tenant)).size;
  const keysWithIps = new Set([...agg.ips.values()].map((s) => s.keyId)).size;
  return (
    statementsFor(messages) +
    statementsFor(tenants, TENANTS_PER_QUERY) +
    statementsFor(keysWithIps) +
    statementsFor(agg.keyHours.size) +
    statementsFor(agg.tenantHours.size) +
    statementsFor(agg.clients.size)
  );
}

/**
 * The most D1 queries rollUp could make for these messages applied together, known before any
 * read: its reads, its multi-row writes, two statements per alert with a condition (every one the
 * batch could raise: whether it fires depends on counts not read yet) and two per ALERTS_PER_STATEMENT
 * of the others. Not counted: the one-by-one retry after a concurrent redelivery (rare). An upper
 * bound for splitting a batch that rollUp refused as too big (RollupTooBig).
 */
export function rollupQueries(messages: readonly UsageMessage[]): number {
  const agg = aggregate(messages.flatMap((m) => m.events));
  let unconditional = 0;
  for (const { outcomes } of agg.keyHours.values())
    unconditional += ["revoked", "rotated", "rate_limited"].filter((o) => outcomes.has(o)).length;
  const conditional = agg.keyHours.size + agg.tenantHours.size + agg.clients.size + agg.ips.size;
  const reads = readQueries(messages.length, agg);
  const writes =
    statementsFor(messages.length) +
    statementsFor(agg.counts.size) +
    statementsFor(agg.clients.size) +
    statementsFor(agg.lastUsed.size) +
    statementsFor(agg.ips.size) +
    2 * conditional +
    2 * statementsFor(unconditional, ALERTS_PER_STATEMENT);
  return reads + writes;
}

/** rollUp would make more D1 queries than it was allowed: nothing was written. */
export class RollupTooBig extends Error {
  constructor(readonly queries: number) {
    super(`the roll-up needs ${queries} D1 queries`);
  }
}

/** How many of the messages, from the first, rollUp can apply together within `maxQueries`. */
export function messagesWithin(messages: readonly UsageMessage[], maxQueries: number): number {
  if (rollupQueries(messages) <= maxQueries) return messages.length;
  let fits = 0;
  let over = messages.length;
  while (over - fits > 1) {
    const mid = Math.floor((fits + over) / 2);
    if (rollupQueries(messages.slice(0, mid)) <= maxQueries) fits = mid;
    else over = mid;
  }
  return fits;
}

/**
 * A message too big to roll up within `maxQueries` (events of many keys and clients), split in
 * halves until each part fits. Part ids derive from the message id, so a redelivered message splits
 * into the same parts and each part is still applied once.
 */
export function splitToFit(message: UsageMessage, maxQueries: number): UsageMessage[] {
  if (message.events.length <= 1 || rollupQueries([message]) <= maxQueries) return [message];
  const half = Math.ceil(message.events.length / 2);
  return [
    ...splitToFit({ v: 1, id: `${message.id}/0`, events: message.events.slice(0, half) }, maxQueries),
    ...splitToFit({ v: 1, id: `${message.id}/1`, events: message.events.slice(half) }, maxQueries),
  ];
}

export interface RollupResult {
  /** Messages applied now; the others had been applied before (redeliveries) and changed nothing. */
  applied: number;
  /** Webhook deliveries the batch's alerts created (to enqueue). */
  deliveries: string[];
}

/**
 * Applies usage messages, each exactly once (by its batch id), in one transaction: a queue batch of
 * many messages costs a handful of D1 round trips, not a handful per message. If a message turns
 * out to have been applied concurrently (a redelivery racing its first delivery), the transaction
 * fails on its id and changes nothing, and the messages are applied one by one instead.
 */
export async function rollUp(
  d1: D1Database,
  messages: readonly UsageMessage[],
  now: number,
  maxQueries = Number.POSITIVE_INFINITY,
): Promise<RollupResult> {
  const ids = [...new Set(messages.map((m) => m.id))];
  const applied = new Set<string>();
  for (const chunk of jsonChunks(ids)) {
    const { results } = await d1
      .prepare("SELECT id FROM usage_batches WHERE id IN (SELECT value FROM json_each(?))")
      .bind(chunk)
      .all<{ id: string }>();
    for (const row of results) applied.add(row.id);
  }
  const fresh = new Map<string, UsageMessage>();
  for (const m of messages) if (!applied.has(m.id)) fresh.set(m.id, m);
  if (fresh.size === 0) return { applied: 0, deliveries: [] };
  try {
    return await applyTogether(d1, [...fresh.values()], now, maxQueries);
  } catch (err) {
    if (!isDuplicateBatch(err)) throw err;
    if (fresh.size === 1) return { applied: 0, deliveries: [] };
    const result: RollupResult = { applied: 0, deliveries: [] };
    for (const m of fresh.values()) {
      const one = await rollUp(d1, [m], now, maxQueries);
      result.applied += one.applied;
      result.deliveries.push(...one.deliveries);
    }
    return result;
  }
}

function isDuplicateBatch(err: unknown): boolean {
  return String(err).includes("UNIQUE constraint failed: usage_batches.id");
}

async function applyTogether(d1: D1Database, messages: UsageMessage[], now: number, maxQueries: number): Promise<RollupResult> {
  const agg = aggregate(messages.flatMap((m) => m.events));
  const db = database(d1);
  const tenants = new Set([...agg.keyHours.values()].map((k) => k.tenant));
  const settings = new Map<string, TenantSettings>();
  for (const [tenant, s] of await tenantSettingsOfMany(db, [...tenants])) settings.set(tenant, s);
  const fresh = await newIps(d1, agg.ips);
  const prior = await priorHourCounts(d1, agg);

  const statements: D1PreparedStatement[] = [
    // First: a batch applied meanwhile fails here, and the whole transaction with it.
    ...multiRow(
      d1,
      "INSERT INTO usage_batches (id, applied_at)",
      "",
      messages.map((m) => [m.id, now]),
    ),
    ...multiRow(
      d1,
      "INSERT INTO usage_counts (granularity, tenant_id, key_id, bucket, outcome, count)",
      "ON CONFLICT (granularity, tenant_id, key_id, bucket, outcome) DO UPDATE SET count = count + excluded.count",
      [...agg.counts].map(([key, n]) => {
        const [granularity, tenant, keyId, bucket, outcome] = key.split("|") as [string, string, string, string, string];
        return [granularity, tenant, keyId, Number(bucket), outcome, n];
      }),
    ),
    ...multiRow(
      d1,
      "INSERT INTO client_refusals (hour, tenant_id, ip, count)",
      "ON CONFLICT (hour, tenant_id, ip) DO UPDATE SET count = count + excluded.count",
      [...agg.clients].map(([key, n]) => {
        const [hour, tenant, ip] = key.split("|") as [string, string, string];
        return [Number(hour), tenant, ip, n];
      }),
    ),
    // Detectors read the counts above and key_ips as it was before this batch (new_ip).
    ...detectorStatements(d1, agg, prior, fresh, settings, now),
    // last_used of every key with an accepted request, never moved backwards.
    ...multiRow(
      d1,
      "UPDATE api_keys SET last_used = v.column2 FROM (",
      ") AS v WHERE api_keys.id = v.column1 AND (api_keys.last_used IS NULL OR api_keys.last_used < v.column2)",
      [...agg.lastUsed].map(([keyId, at]) => [keyId, at]),
    ),
    ...multiRow(
      d1,
      "INSERT INTO key_ips (tenant_id, key_id, ip, first_seen, last_seen, count, country)",
      `ON CONFLICT (key_id, ip) DO UPDATE SET first_seen = MIN(first_seen, excluded.first_seen),
         country = CASE WHEN excluded.last_seen >= last_seen THEN COALESCE(excluded.country, country) ELSE country END,
         last_seen = MAX(last_seen, excluded.last_seen), count = count + excluded.count`,
      [...agg.ips.values()].map((s) => [s.tenant, s.keyId, s.ip, s.first, s.last, s.count, s.country]),
    ),
  ];
  // The reads so far (batch ids, settings, key_ips, prior counts) and the writes: within the budget,
  // or nothing is written and the caller splits the batch.
  const reads = readQueries(messages.length, agg);
  if (reads + statements.length > maxQueries) throw new RollupTooBig(reads + statements.length);
  const results = await d1.batch(statements);
  return { applied: messages.length, deliveries: deliveryIdsOf(results) };
}
