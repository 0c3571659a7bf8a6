/** Abuse's config section: brute-force throttling and the rate-limit failure mode; both planes use it. */
import { enumVar, integerVar, perEnv } from "../config/read";

export interface AbuseConfig {
  /** Failed authentications per client per 60 s before 429. */
  authFailureLimit: number;
  /** What the gateway does when a key's rate-limit counter cannot be reached. */
  rateLimitFailureMode: "open" | "closed";
}

export const abuseConfig = perEnv(
  (env): AbuseConfig => ({
    rateLimitFailureMode: enumVar(env, "RATE_LIMIT_FAILURE_MODE"),
    authFailureLimit: integerVar(env, "AUTH_FAILURE_LIMIT"),
  }),
);
