/**
 * The gateway's config section: the origin, the route policy (compiled here, where the policy
 * compiler lives) and the path contract's mode, read through the config table (src/config/vars.ts).
 */
import { lastUsedIntervalSeconds, scopeCatalog } from "../config/keys";
import { originUrl } from "../config/origin";
import { booleanVar, enumVar, integerVar, jsonVar, perEnv } from "../config/read";
import { ConfigError } from "../errors";
import type { PathMode } from "./path-contract";
import { type CompiledPolicy, compilePolicy, type UnmatchedRoutes } from "./policy";

export interface GatewayConfig {
  /** ORIGIN_URL without a trailing slash; request paths are appended byte for byte. */
  origin: string;
  originTimeoutMs: number;
  forwardAuthorization: boolean;
  /** FORWARD_KEY_META: the origin receives the key's metadata as X-Keygate-Meta. */
  forwardKeyMeta: boolean;
  unmatched: UnmatchedRoutes;
  policy: CompiledPolicy;
  /** What the gateway does with a path an origin could read another way (src/gateway/path-contract.ts). */
  pathNormalization: PathMode;
  revocationCacheTtlMs: number;
  lastUsedIntervalSeconds: number;
}

export const gatewayConfig = perEnv((env): GatewayConfig => {
  const origin = originUrl(env);
  const unmatched = enumVar(env, "UNMATCHED_ROUTES");
  const pathNormalization = enumVar(env, "PATH_NORMALIZATION");
  let policy: CompiledPolicy;
  try {
    policy = compilePolicy(jsonVar(env, "ROUTE_POLICY") ?? []);
  } catch (err) {
    throw new ConfigError(`ROUTE_POLICY: ${(err as Error).message}`);
  }
  const catalog = scopeCatalog(env);
  const unknownScopes = [...policy.scopes].filter((s) => !catalog.has(s));
  if (unknownScopes.length > 0) {
    throw new ConfigError(`ROUTE_POLICY requires scopes missing from the scope catalog: ${unknownScopes.join(", ")}`);
  }
  return {
    origin: origin.href.replace(/\/+$/, ""),
    originTimeoutMs: integerVar(env, "ORIGIN_TIMEOUT_MS"),
    forwardAuthorization: booleanVar(env, "FORWARD_AUTHORIZATION"),
    forwardKeyMeta: booleanVar(env, "FORWARD_KEY_META"),
    unmatched,
    policy,
    pathNormalization,
    revocationCacheTtlMs: integerVar(env, "REVOCATION_CACHE_TTL_SECONDS") * 1000,
    lastUsedIntervalSeconds: lastUsedIntervalSeconds(env),
  };
});
