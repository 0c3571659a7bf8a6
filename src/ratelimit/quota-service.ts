/**
 * Quotas seen from the control plane: what remains of a key's (or a group's) quota, asked of its
 * counter without granting anything, and credits. A credit is applied by the counter first (it is
 * the effect), then recorded: its audit entry and the key.quota_credited webhook deliveries in one
 * D1 transaction. Should D1 fail after the counter applied it, the credit stands and the caller
 * gets 503; the worker log says so.
 */
import type { SQL } from "drizzle-orm";
import * as z from "zod/mini";
import { auditEntry } from "../audit/entry";
import type { ManagementContext } from "../auth/principal";
import type { Db } from "../db/client";
import { findKey } from "../db/keys-repo";
import { auditLog } from "../db/schema";
import { d1Statement } from "../db/statements";
import { ApiError } from "../errors";
import { boundedInt } from "../http/validate";
import type { KeyView } from "../keys/views";
import { ID_NOUNS } from "../lib/ids";
import { KEY_QUOTA_ITEM, QUOTA_CREDIT_MAX, QUOTA_CREDITED_EVENT, type Quota } from "../vocab/quotas.mjs";
import type { LimitState, RateLimitCounter } from "./counter";

/** A counter slower than this leaves the key view without `remaining` (the view is still served). */
const PEEK_TIMEOUT_MS = 1_000;

export const creditSchema = z.strictObject(
  {
    amount: boundedInt("amount", 1, QUOTA_CREDIT_MAX).check(z.describe("Calls to add to the quota's current period.")),
  },
  { error: "the request body must be a JSON object" },
);
export type CreditInput = z.output<typeof creditSchema>;

/**
 * How a credit reaches webhook receivers: the webhooks feature sits above this one, so whoever
 * assembles the deps fills this in (routes/quotas.ts: the outbox and the delivery queue).
 */
export interface CreditRecorder {
  /** The deliveries of the key.quota_credited event as SQL (RETURNING their ids), in the audit entry's transaction. */
  event(tenant: string, type: typeof QUOTA_CREDITED_EVENT, data: unknown, now: number): SQL;
  /** After the commit: sends the deliveries. */
  deliver(deliveries: readonly string[]): Promise<void>;
}

export interface QuotaDeps {
  db: Db;
  counters: DurableObjectNamespace<RateLimitCounter>;
  record: CreditRecorder;
}

/** RATE_LIMITER as what it is (src/env.ts types Durable Object namespaces loosely, so it imports no feature). */
export function counterNamespace(namespace: DurableObjectNamespace<Rpc.DurableObjectBranded>): DurableObjectNamespace<RateLimitCounter> {
  return namespace as unknown as DurableObjectNamespace<RateLimitCounter>;
}

function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${PEEK_TIMEOUT_MS} ms`)), PEEK_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function keyQuotaPolicy(quota: Quota) {
  return { name: KEY_QUOTA_ITEM, limit: quota.limit, period: quota.period };
}

/** A quota state on the wire: what remains, what was credited, when it refills (unix seconds; null never). */
export function quotaStateView(quota: Quota, state: LimitState) {
  return {
    limit: quota.limit,
    period: quota.period,
    remaining: state.remaining,
    credited: state.credited ?? 0,
    resets_at: state.resetAtMs === null ? null : Math.floor(state.resetAtMs / 1000),
  };
}

/**
 * The key view with its quota's `remaining`, `credited` and `resets_at` from the key's counter. A
 * counter that cannot be reached leaves them out (logged): the rest of the view is D1's and stands.
 */
export async function withQuotaState(counters: DurableObjectNamespace<RateLimitCounter>, view: KeyView, nowMs: number): Promise<KeyView> {
  if (!view.quota) return view;
  const quota = { limit: view.quota.limit, period: view.quota.period };
  try {
    const stub = counters.get(counters.idFromName(view.id));
    const [state] = await withTimeout(stub.peek([keyQuotaPolicy(quota)], nowMs), "rate-limit counter");
    if (state) return { ...view, quota: quotaStateView(quota, state) };
  } catch (err) {
    console.error(`reading the quota of ${view.id} failed; the key view is served without it`, err);
  }
  return view;
}

/** POST .../api-keys/{id}/quota/credit: adds calls to the key's quota in its current period. */
export async function creditKeyQuota(deps: QuotaDeps, ctx: ManagementContext, keyId: string, input: CreditInput) {
  const row = await findKey(deps.db, ctx.tenant, keyId);
  if (!row) throw new ApiError("not_found", `${ID_NOUNS.key} not found`);
  if (!row.quota) throw new ApiError("conflict", "API key has no quota to credit; set one with PATCH first");
  if (row.revoked) throw new ApiError("conflict", "API key has been revoked; its quota cannot be credited");
  const nowMs = Math.max(ctx.now * 1000, Date.now());
  const stub = deps.counters.get(deps.counters.idFromName(keyId));
  let state: LimitState;
  try {
    state = await withTimeout(stub.credit(keyQuotaPolicy(row.quota), input.amount, nowMs), "rate-limit counter");
  } catch (err) {
    console.error(`crediting the quota of ${keyId} failed`, err);
    throw new ApiError(
      "temporarily_unavailable",
      "The key's quota counter cannot be reached right now; nothing was credited, retry shortly",
    );
  }
  const view = quotaStateView(row.quota, state);
  const d1 = deps.db.$client;
  let deliveries: string[] = [];
  try {
    const results = await d1.batch([
      d1Statement(d1, deps.db.insert(auditLog).values(auditEntry(ctx, "credit_quota", keyId, "success", 200))),
      d1Statement(d1, deps.record.event(ctx.tenant, QUOTA_CREDITED_EVENT, { key_id: keyId, amount: input.amount, quota: view }, ctx.now)),
    ]);
    deliveries = results.flatMap((r) => (r.results ?? []) as { id?: string }[]).flatMap((r) => (r.id ? [r.id] : []));
  } catch (err) {
    console.error(`the quota of ${keyId} was credited (${input.amount}) but recording it failed`, err);
    throw new ApiError("temporarily_unavailable", "The credit was applied but could not be recorded; do not repeat it");
  }
  if (deliveries.length > 0) await deps.record.deliver(deliveries).catch((err) => console.error("enqueueing failed", err));
  return { key_id: keyId, amount: input.amount, quota: view };
}
