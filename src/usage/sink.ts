/** Where the gateway's usage events go, per deployment configuration (null: USAGE_EVENTS = "off"). */
import { perEnv } from "../config/read";
import type { Env } from "../env";
import { usageConfig } from "./config";
import type { UsageSink } from "./events";

export const usageSink = perEnv((env: Env): UsageSink | null => {
  const config = usageConfig(env);
  return config.enabled ? { queue: env.USAGE_QUEUE, db: env.DB, flushMs: config.flushMs } : null;
});
