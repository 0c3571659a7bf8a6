/**
 * The unused-key policy, run by the cron. A tenant that sets revoke_unused_after_days (N) has each
 * active key unused (or never used, counted from its creation) for N - unused_notice_days raise
 * key_unused (and its webhooks) once per idle period, and at N days revoked: actor `policy`, reason
 * "unused", audited, the key.revoked webhook carrying `reason: "unused"`. A key with
 * exempt_from_unused_policy is never touched.
 *
 * Scale: the task walks api_keys in seq order a window of SEQ_WINDOW at a time and keeps its place
 * in cron_cursors ('unused-key-policy'), so a run reads at most MAX_WINDOWS_PER_RUN * SEQ_WINDOW rows
 * whatever the number of keys, and writes at most MAX_REVOCATIONS_PER_RUN revocations (each one KV
 * write for the edge record) and MAX_NOTICES_PER_RUN alerts, in a handful of multi-row statements. A
 * run that meets more stops at the first key over its budget and the next run resumes there. At
 * 100,000 keys of one tenant a pass takes one run per 100,000 keys examined; 100,000 keys falling due
 * on the same day take 500 runs of revocations (the KV writes bound it: docs/governance.md).
 */

import { sql } from "drizzle-orm";
import { alertsStatements, type NewAlert } from "../alerts/events";
import type { Db } from "../db/client";
import { readCronCursor, writeCronCursor } from "../db/cron-cursors";
import { edgeRowsOf } from "../db/keys-repo";
import { apiKeys } from "../db/schema";
import { edgeRecordOf, writeEdgeRecord } from "../keys/edge-record";
import { deliveryIdsOf, eventPayload, newEventId } from "../webhooks/outbox";

export const UNUSED_POLICY_CURSOR = "unused-key-policy";
/** Who revokes, in the key's revoked_by and the audit log (actor kind `policy`, id `unused`). */
export const POLICY_ACTOR = "policy";
export const UNUSED_REASON = "unused";
export const DEFAULT_UNUSED_NOTICE_DAYS = 7;

const SECONDS_PER_DAY = 86_400;
/** Keys (by seq) examined per window: the rows one query reads. */
export const SEQ_WINDOW = 10_000;
export const MAX_WINDOWS_PER_RUN = 10;
/** Each revocation is one KV write (the edge record): Workers allow 1,000 KV operations an invocation, shared with the reconciler. */
export const MAX_REVOCATIONS_PER_RUN = 200;
export const MAX_NOTICES_PER_RUN = 1_000;

interface Candidate {
  seq: number;
  id: string;
  tenant_id: string;
  name: string;
  last_used: number | null;
  created_at: number;
  after_days: number;
  notice_days: number;
}

export interface PolicyRun {
  examinedUpTo: number;
  passCompleted: boolean;
  noticed: number;
  revoked: number;
  deliveries: string[];
  d1Queries: number;
  kvWrites: number;
}

/** The idle period a key is in: what its alert is deduplicated by. */
function idleSince(k: Pick<Candidate, "last_used" | "created_at">): number {
  return k.last_used ?? k.created_at;
}

function dedupeKey(k: Candidate): string {
  return `key_unused_policy:${k.id}:${k.last_used ?? "never"}`;
}

/**
 * Keys in (after, after + SEQ_WINDOW] of tenants with the policy on that are due for a notice (not
 * yet given for this idle period) or for revocation, in seq order, at most `limit`.
 */
async function candidates(db: Db, after: number, now: number, limit: number): Promise<Candidate[]> {
  const notice = sql`MIN(COALESCE(s.unused_notice_days, ${DEFAULT_UNUSED_NOTICE_DAYS}), s.revoke_unused_after_days)`;
  const idle = sql`COALESCE(k.last_used, k.created_at)`;
  return db.all<Candidate>(sql`
    SELECT k.seq, k.id, k.tenant_id, k.name, k.last_used, k.created_at,
           s.revoke_unused_after_days AS after_days, ${notice} AS notice_days
    FROM api_keys k JOIN tenant_settings s ON s.tenant_id = k.tenant_id
    WHERE k.seq > ${after} AND k.seq <= ${after + SEQ_WINDOW}
      AND s.revoke_unused_after_days > 0
      AND k.revoked = 0 AND k.replaced_by IS NULL AND (k.expires_at IS NULL OR k.expires_at > ${now})
      AND k.exempt_from_unused_policy = 0
      AND ${idle} <= ${now} - (s.revoke_unused_after_days - ${notice}) * ${SECONDS_PER_DAY}
      AND (${idle} <= ${now} - s.revoke_unused_after_days * ${SECONDS_PER_DAY}
           OR NOT EXISTS (SELECT 1 FROM alerts a WHERE a.dedupe_key = 'key_unused_policy:' || k.id || ':' || COALESCE(k.last_used, 'never')))
    ORDER BY k.seq LIMIT ${limit}`);
}

function isDue(k: Candidate, now: number): boolean {
  return idleSince(k) <= now - k.after_days * SECONDS_PER_DAY;
}

function noticeOf(k: Candidate, now: number): NewAlert {
  const revokesAt = idleSince(k) + k.after_days * SECONDS_PER_DAY;
  return {
    tenant: k.tenant_id,
    type: "key_unused",
    keyId: k.id,
    dedupeKey: dedupeKey(k),
    now,
    details: {
      name: k.name,
      last_used: k.last_used,
      unused_days: Math.floor((now - idleSince(k)) / SECONDS_PER_DAY),
      policy: "revoke_unused_after_days",
      revoke_unused_after_days: k.after_days,
      revokes_at: revokesAt,
    },
  };
}

/**
 * Revokes the due keys in one D1 transaction (the key rows, gated on still being idle, active and
 * not exempt; their audit entries and key.revoked deliveries, gated on the revocation having
 * happened now), then mirrors each edge record into KV. Returns the ids revoked and the deliveries.
 */
async function revokeDue(
  db: Db,
  kv: KVNamespace,
  due: readonly Candidate[],
  now: number,
): Promise<{ revoked: string[]; deliveries: string[] }> {
  const d1 = db.$client;
  const rows = due.map((k) => {
    const eventId = newEventId();
    const payload = eventPayload(eventId, "key.revoked", k.tenant_id, now, {
      key_id: k.id,
      revoked_at: now,
      revoked_by: POLICY_ACTOR,
      reason: UNUSED_REASON,
    });
    return [k.id, idleSince(k), `evt-${crypto.randomUUID()}`, eventId, payload];
  });
  const json = JSON.stringify(rows);
  const col = (i: number) => `json_extract(v.value, '$[${i}]')`;
  // Only keys this statement revoked: revoked now, by the policy.
  const revokedNow = `k.revoked = 1 AND k.revoked_by = '${POLICY_ACTOR}' AND k.revoked_at = ?2`;
  const results = await d1.batch([
    d1
      .prepare(
        `UPDATE api_keys SET revoked = 1, revoked_at = ?2, revoked_by = '${POLICY_ACTOR}', revoke_reason = '${UNUSED_REASON}', updated_at = ?2
         FROM (SELECT ${col(0)} AS id, ${col(1)} AS idle_since FROM json_each(?1) v) AS d
         WHERE api_keys.id = d.id AND api_keys.revoked = 0 AND api_keys.replaced_by IS NULL
           AND api_keys.exempt_from_unused_policy = 0 AND COALESCE(api_keys.last_used, api_keys.created_at) <= d.idle_since`,
      )
      .bind(json, now),
    d1
      .prepare(
        `INSERT INTO audit_log (id, at, tenant_id, actor_kind, actor_id, action, target_key_id, outcome, status, error, ip, user_agent)
         SELECT ${col(2)}, ?2, k.tenant_id, '${POLICY_ACTOR}', '${UNUSED_REASON}', 'revoke', k.id, 'success', 200, NULL, NULL, NULL
         FROM json_each(?1) v JOIN api_keys k ON k.id = ${col(0)} WHERE ${revokedNow}`,
      )
      .bind(json, now),
    d1
      .prepare(
        `INSERT INTO webhook_deliveries (id, webhook_id, tenant_id, event_id, event_type, payload, status, attempts, next_attempt_at, created_at, updated_at)
         SELECT 'dlv-' || lower(hex(randomblob(16))), w.id, w.tenant_id, ${col(3)}, 'key.revoked', ${col(4)}, 'pending', 0, ?2, ?2, ?2
         FROM json_each(?1) v JOIN api_keys k ON k.id = ${col(0)} JOIN webhooks w ON w.tenant_id = k.tenant_id
         WHERE ${revokedNow} AND EXISTS (SELECT 1 FROM json_each(w.events) e WHERE e.value = 'key.revoked')
         RETURNING id`,
      )
      .bind(json, now),
    d1.prepare(`SELECT k.id FROM json_each(?1) v JOIN api_keys k ON k.id = ${col(0)} WHERE ${revokedNow}`).bind(json, now),
  ]);
  const revoked = ((results[3] as D1Result<{ id: string }>).results ?? []).map((r) => r.id);
  for (const row of await edgeRowsOf(db, revoked)) await writeEdgeRecord(kv, row.id, edgeRecordOf(row), row.expiresAt, now);
  return { revoked, deliveries: deliveryIdsOf(results.slice(2, 3)) };
}

/** One run of the policy: from the saved cursor, within this run's budgets. */
export async function enforceUnusedPolicy(db: Db, kv: KVNamespace, now: number): Promise<PolicyRun> {
  const d1 = db.$client;
  const saved = await readCronCursor(db, UNUSED_POLICY_CURSOR);
  let after = saved === undefined ? 0 : Number((JSON.parse(saved) as { after?: unknown }).after ?? 0) || 0;
  const maxSeq =
    (
      await db
        .select({ m: sql<number>`COALESCE(MAX(${apiKeys.seq}), 0)` })
        .from(apiKeys)
        .get()
    )?.m ?? 0;
  const run: PolicyRun = { examinedUpTo: after, passCompleted: false, noticed: 0, revoked: 0, deliveries: [], d1Queries: 2, kvWrites: 0 };
  for (let w = 0; w < MAX_WINDOWS_PER_RUN && after < maxSeq; w++) {
    const roomNotices = MAX_NOTICES_PER_RUN - run.noticed;
    const roomRevocations = MAX_REVOCATIONS_PER_RUN - run.revoked;
    if (roomNotices <= 0 || roomRevocations <= 0) break;
    const found = await candidates(db, after, now, roomNotices + roomRevocations + 1);
    run.d1Queries++;
    // In seq order, up to the first key over a budget: the next run resumes at that key.
    const notices: Candidate[] = [];
    const due: Candidate[] = [];
    let stoppedAt: number | undefined;
    for (const k of found) {
      const list = isDue(k, now) ? due : notices;
      if (list.length >= (list === due ? roomRevocations : roomNotices)) {
        stoppedAt = k.seq;
        break;
      }
      list.push(k);
    }
    if (notices.length > 0) {
      const results = await d1.batch(
        alertsStatements(
          d1,
          notices.map((k) => noticeOf(k, now)),
        ),
      );
      run.d1Queries += results.length;
      run.deliveries.push(...deliveryIdsOf(results));
      run.noticed += notices.length;
    }
    if (due.length > 0) {
      const { revoked, deliveries } = await revokeDue(db, kv, due, now);
      run.d1Queries += 5;
      run.kvWrites += revoked.length;
      run.revoked += revoked.length;
      run.deliveries.push(...deliveries);
    }
    after = stoppedAt !== undefined ? stoppedAt - 1 : Math.min(after + SEQ_WINDOW, maxSeq);
    if (stoppedAt !== undefined) break;
  }
  run.passCompleted = after >= maxSeq;
  run.examinedUpTo = after;
  // A completed pass starts over next run.
  await writeCronCursor(db, UNUSED_POLICY_CURSOR, JSON.stringify({ after: run.passCompleted ? 0 : after }), now);
  run.d1Queries++;
  return run;
}
