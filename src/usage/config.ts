/** Usage's config section: whether the gateway records usage events, how it batches them, how long roll-ups are kept. */
import { enumVar, integerVar, perEnv } from "../config/read";

export interface UsageConfig {
  enabled: boolean;
  /** Events arriving within this long of the first of a batch share its queue message. */
  flushMs: number;
  /** Seconds the aggregator shards hold usage before one roll-up (0: each queue batch is rolled up at once). */
  aggregateSeconds: number;
  /** Aggregator Durable Objects; a tenant's usage always goes to the same one. */
  aggregatorShards: number;
  /** Days each roll-up granularity is kept (pruned by the cron). */
  retentionDays: { minute: number; hour: number; day: number };
}

export const usageConfig = perEnv(
  (env): UsageConfig => ({
    enabled: enumVar(env, "USAGE_EVENTS") === "on",
    flushMs: integerVar(env, "USAGE_FLUSH_MS"),
    aggregateSeconds: integerVar(env, "USAGE_AGGREGATE_SECONDS"),
    aggregatorShards: integerVar(env, "USAGE_AGGREGATOR_SHARDS"),
    retentionDays: {
      minute: integerVar(env, "USAGE_RETENTION_MINUTE_DAYS"),
      hour: integerVar(env, "USAGE_RETENTION_HOUR_DAYS"),
      day: integerVar(env, "USAGE_RETENTION_DAY_DAYS"),
    },
  }),
);
