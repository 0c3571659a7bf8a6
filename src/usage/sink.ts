/** Where the gateway's usage events go, per deployment configuration (null: USAGE_EVENTS = "off"). */
import { usageConfig } from "../config";
import type { Env } from "../env";
import type { UsageSink } from "./events";

const sinks = new WeakMap<Env, UsageSink | null>();

export function usageSink(env: Env): UsageSink | null {
  let sink = sinks.get(env);
  if (sink === undefined) {
    const config = usageConfig(env);
    sink = config.enabled ? { queue: env.USAGE_QUEUE, db: env.DB, flushMs: config.flushMs } : null;
    sinks.set(env, sink);
  }
  return sink;
}
