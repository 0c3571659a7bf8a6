/**
 * Cloudflare's documented production limits that keygate's code paths can reach, in one leaf
 * module (no imports): production code sizes its chunks and batches with these numbers, and the
 * test wrappers (test/helpers/platform-limits.ts) make local D1, KV and Queues refuse what
 * production would refuse. Local bindings are SQLite and files with far looser limits, so without
 * the wrappers a limit bug passes every test and fails in production.
 *
 * Plan: Workers Paid. "KB" on the Queues page means 1,000 bytes; KV's "MiB" means 1,048,576.
 */

// D1: https://developers.cloudflare.com/d1/platform/limits/

/** "Maximum bound parameters per query: 100". */
export const D1_MAX_BOUND_PARAMETERS = 100;
/** "Maximum SQL statement length: 100,000 bytes (100 KB)". */
export const D1_MAX_STATEMENT_BYTES = 100_000;
/** "Maximum string, BLOB or table row size: 2,000,000 bytes (2 MB)". */
export const D1_MAX_ROW_BYTES = 2_000_000;
/** "Queries per Worker invocation: 1000 (Workers Paid)"; each statement of a batch is a query. */
export const D1_MAX_QUERIES_PER_INVOCATION = 1_000;

// Workers KV: https://developers.cloudflare.com/kv/platform/limits/
// and https://developers.cloudflare.com/kv/api/write-key-value-pairs/

/** "Key size: 512 bytes". */
export const KV_MAX_KEY_BYTES = 512;
/** "Key metadata: 1024 bytes" (the serialized JSON). */
export const KV_MAX_METADATA_BYTES = 1_024;
/** "Value size: 25 MiB". */
export const KV_MAX_VALUE_BYTES = 25 * 1_048_576;
/** "Writes to same key: 1 per second": faster writes to one key may be rate limited (429). */
export const KV_MIN_SAME_KEY_WRITE_INTERVAL_MS = 1_000;
/** "Operations/Worker invocation: 1000" (a bulk read counts once). */
export const KV_MAX_OPERATIONS_PER_INVOCATION = 1_000;

// Queues: https://developers.cloudflare.com/queues/platform/limits/

/** "Message size: 128 KB" (1 KB = 1,000 bytes), including the message's internal metadata. */
export const QUEUE_MAX_MESSAGE_BYTES = 128_000;
/** "Messages can include up to ~100 bytes of internal metadata that counts towards total message limits." */
export const QUEUE_MESSAGE_METADATA_BYTES = 100;
/** "Maximum messages per sendBatch call: 100 (or 256KB in total)". */
export const QUEUE_MAX_BATCH_MESSAGES = 100;
export const QUEUE_MAX_BATCH_BYTES = 256_000;
/** "delaySeconds (when sending or retrying): 24 hours". */
export const QUEUE_MAX_DELAY_SECONDS = 86_400;
/** "Maximum consumer batch size: 100 messages". */
export const QUEUE_MAX_CONSUMER_BATCH_MESSAGES = 100;

// Workers: https://developers.cloudflare.com/workers/platform/limits/

/**
 * "Subrequests: 10,000/request" (Workers Paid, the default; configurable higher). fetch() and calls
 * to Cloudflare services through bindings (D1, KV, Queues, Durable Objects) count.
 */
export const WORKERS_MAX_SUBREQUESTS_PER_INVOCATION = 10_000;
