/**
 * Delivering webhook events. A delivery row (the outbox, outbox.ts) is sent through the
 * webhook queue; each attempt POSTs the stored payload, signed, and is recorded; a failure (a
 * non-2xx answer, a timeout, a refused connection) is retried through the queue with exponential
 * backoff for about a day (WEBHOOK_MAX_ATTEMPTS attempts), then the delivery is marked failed.
 * Every attempt is visible in GET .../webhooks/{id}/deliveries.
 */
import { jsonChunks } from "../db/statements";
import type { Env } from "../env";
import { ApiError } from "../errors";
import { escapeControlCharacters } from "../lib/escape-control-characters";
import { QUEUE_MAX_BATCH_MESSAGES } from "../lib/platform-limits";
import type { DeliveryConfig } from "./config";
import { checkDestination } from "./destination";
import type { DeliveryMessage } from "./message";
import { SIGNATURE_HEADER, signatureHeader } from "./signing";

export type { DeliveryMessage } from "./message";

/** Retries double from WEBHOOK_RETRY_BASE_SECONDS up to this. */
const MAX_RETRY_DELAY_SECONDS = 6 * 3600;
const DELIVERY_TIMEOUT_MS = 10_000;
const ERROR_MAX_LENGTH = 300;

export function retryDelaySeconds(attemptsSoFar: number, baseSeconds: number): number {
  return Math.min(baseSeconds * 2 ** Math.max(0, attemptsSoFar - 1), MAX_RETRY_DELAY_SECONDS);
}

/**
 * Sends delivery ids to the webhook queue (after the transaction that created them committed), in
 * sendBatch calls of at most QUEUE_MAX_BATCH_MESSAGES (a message is ~60 bytes: far under 256 KB).
 */
export async function enqueueDeliveries(queue: Queue<DeliveryMessage>, ids: readonly string[], delaySeconds = 0): Promise<void> {
  for (let i = 0; i < ids.length; i += QUEUE_MAX_BATCH_MESSAGES) {
    const batch = ids.slice(i, i + QUEUE_MAX_BATCH_MESSAGES);
    await queue.sendBatch(batch.map((delivery) => ({ body: { delivery }, contentType: "json", delaySeconds })));
  }
}

interface DueDelivery {
  id: string;
  status: string;
  attempts: number;
  payload: string;
  event_id: string;
  event_type: string;
  url: string | null;
  secret: string | null;
}

async function post(
  url: URL,
  secret: string,
  delivery: DueDelivery,
  now: number,
): Promise<{ status: number | null; error: string | null }> {
  try {
    const res = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "user-agent": "keygate-webhooks/1",
        [SIGNATURE_HEADER]: await signatureHeader(secret, now, delivery.payload),
        "keygate-event-id": delivery.event_id,
        "keygate-event-type": delivery.event_type,
      },
      body: delivery.payload,
      redirect: "manual",
      signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
    });
    await res.body?.cancel();
    return { status: res.status, error: res.ok ? null : `the endpoint answered ${res.status}` };
  } catch (err) {
    const timeout = err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
    return { status: null, error: timeout ? `no answer within ${DELIVERY_TIMEOUT_MS} ms` : String((err as Error)?.message ?? err) };
  }
}

/** One attempt at a delivery; schedules the retry or marks it final. Safe to run twice for one message. */
export async function attemptDelivery(env: Pick<Env, "DB" | "WEBHOOK_QUEUE">, config: DeliveryConfig, deliveryId: string): Promise<void> {
  const d1 = env.DB;
  const delivery = await d1
    .prepare(
      `SELECT d.id, d.status, d.attempts, d.payload, d.event_id, d.event_type, w.url, w.secret
       FROM webhook_deliveries d LEFT JOIN webhooks w ON w.id = d.webhook_id WHERE d.id = ?`,
    )
    .bind(deliveryId)
    .first<DueDelivery>();
  if (delivery?.status !== "pending") return;
  const now = Math.floor(Date.now() / 1000);
  // Claim this attempt: a second message for the same delivery (the cron's re-send) finds it taken.
  const claimed = await d1
    .prepare(
      "UPDATE webhook_deliveries SET attempts = attempts + 1, updated_at = ? WHERE id = ? AND status = 'pending' AND attempts = ? RETURNING attempts",
    )
    .bind(now, deliveryId, delivery.attempts)
    .first<{ attempts: number }>();
  if (!claimed) return;
  const attempt = claimed.attempts;
  const started = Date.now();
  let outcome: { status: number | null; error: string | null };
  let final = false;
  if (delivery.url === null || delivery.secret === null) {
    outcome = { status: null, error: "the webhook was deleted" };
    final = true;
  } else {
    try {
      outcome = await post(await checkDestination(delivery.url, config.destinations), delivery.secret, delivery, now);
    } catch (err) {
      // A destination refused now (it resolves to an internal address) will not get better by waiting.
      final = err instanceof ApiError && err.code === "invalid_request";
      outcome = { status: null, error: err instanceof ApiError ? err.description : String(err) };
    }
  }
  const succeeded = outcome.status !== null && outcome.status >= 200 && outcome.status < 300;
  const retry = !succeeded && !final && attempt < config.maxAttempts;
  const delay = retry ? retryDelaySeconds(attempt, config.retryBaseSeconds) : 0;
  // Derived from the receiver, the network and DNS answers: stored escaped (src/lib/escape-control-characters.ts).
  const error = outcome.error === null ? null : escapeControlCharacters(outcome.error).slice(0, ERROR_MAX_LENGTH);
  await d1.batch([
    d1
      .prepare("INSERT INTO webhook_attempts (delivery_id, attempt, at, response_status, error, duration_ms) VALUES (?, ?, ?, ?, ?, ?)")
      .bind(deliveryId, attempt, now, outcome.status, error, Date.now() - started),
    d1
      .prepare(
        "UPDATE webhook_deliveries SET status = ?, next_attempt_at = ?, last_status = ?, last_error = ?, updated_at = ? WHERE id = ?",
      )
      .bind(succeeded ? "succeeded" : retry ? "pending" : "failed", retry ? now + delay : null, outcome.status, error, now, deliveryId),
  ]);
  if (retry) await enqueueDeliveries(env.WEBHOOK_QUEUE, [deliveryId], delay);
}

/** At most this many stranded deliveries are re-sent per run; the next cron run takes the rest. */
export const RESEND_STRANDED_MAX = 500;

/**
 * Pending deliveries whose next attempt is overdue by more than `graceSeconds` (their queue message
 * was lost, or they were created and the process died before enqueueing): sent again. Their new
 * attempt time is set in one UPDATE per chunk of ids (one JSON parameter each, db/statements.ts).
 */
export async function resendStranded(env: Pick<Env, "DB" | "WEBHOOK_QUEUE">, now: number, graceSeconds: number): Promise<number> {
  const { results } = await env.DB.prepare(
    "SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at < ? ORDER BY next_attempt_at LIMIT ?",
  )
    .bind(now - graceSeconds, RESEND_STRANDED_MAX)
    .all<{ id: string }>();
  const ids = results.map((r) => r.id);
  if (ids.length > 0) {
    await env.DB.batch(
      jsonChunks(ids).map((chunk) =>
        env.DB.prepare("UPDATE webhook_deliveries SET next_attempt_at = ? WHERE id IN (SELECT value FROM json_each(?))").bind(now, chunk),
      ),
    );
    await enqueueDeliveries(env.WEBHOOK_QUEUE, ids);
  }
  return ids.length;
}
