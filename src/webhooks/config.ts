/** Webhooks' config section: where deliveries may go and how they are retried (src/config/vars.ts). */
import { booleanVar, integerVar, perEnv, stringVar } from "../config/read";
import { ConfigError } from "../errors";
import type { DestinationPolicy } from "./destination";

export interface DeliveryConfig {
  destinations: DestinationPolicy;
  /** The first retry waits this long; each next one twice as long, capped at 6 h. */
  retryBaseSeconds: number;
  maxAttempts: number;
}

export const deliveryConfig = perEnv((env): DeliveryConfig => {
  const resolver = stringVar(env, "WEBHOOK_DNS_RESOLVER");
  if (resolver !== "off" && !/^https?:\/\//.test(resolver)) throw new ConfigError('WEBHOOK_DNS_RESOLVER must be an http(s) URL or "off"');
  return {
    destinations: {
      allowInsecureLoopback: booleanVar(env, "WEBHOOK_ALLOW_INSECURE_LOOPBACK"),
      resolverUrl: resolver === "off" ? null : resolver,
    },
    retryBaseSeconds: integerVar(env, "WEBHOOK_RETRY_BASE_SECONDS"),
    maxAttempts: integerVar(env, "WEBHOOK_MAX_ATTEMPTS"),
  };
});
