/** Bindings, vars and secrets of the keygate worker (wrangler.toml, .dev.vars, `wrangler secret`). */
import type { EnvVars } from "./config/vars";
import type { DeliveryMessage, UsageMessage } from "./vocab/messages.mjs";

/** Bindings, written here, and every var and secret, from the config table (src/config/vars.ts). */
export interface Env extends EnvVars {
  DB: D1Database;
  /** Per-key edge records (revocation, rotation cut-off, rate limits, allowlist), mirrored from D1. */
  EDGE_RECORDS: KVNamespace;
  /**
   * One exact counter per rate-limited key: the RateLimitCounter class (src/ratelimit/counter.ts).
   * Durable Object namespaces are typed with their class where they are called (the feature that
   * owns the class), so this bottom layer imports no feature.
   */
  RATE_LIMITER: DurableObjectNamespace<Rpc.DurableObjectBranded>;
  /** Usage held per shard of tenants before one D1 roll-up: the UsageAggregator class (src/usage/aggregator.ts). */
  USAGE_AGGREGATOR: DurableObjectNamespace<Rpc.DurableObjectBranded>;
  /** Workers Rate Limiting binding counting failed authentications per client IP. */
  AUTH_FAILURES?: RateLimit;
  /** Usage events from the gateway to the worker's own consumer (roll-ups, detectors). */
  USAGE_QUEUE: Queue<UsageMessage>;
  /** Webhook deliveries, with their retries. */
  WEBHOOK_QUEUE: Queue<DeliveryMessage>;
  /** The console's static files (wrangler.toml [assets]); served under /console by src/console-host/. */
  ASSETS?: Fetcher;
}
