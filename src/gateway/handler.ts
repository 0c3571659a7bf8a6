/**
 * The data plane: every request that is not for the control plane. In order: route policy,
 * bearer key (signature, iss, aud, exp), edge state (revoked / rotated), scopes, then forward.
 * Never touches D1 on the request path, and in the steady state never awaits anything but the
 * origin: the key ring, verifications, edge state and route decisions are all cached per isolate.
 * Refusals are built as responses, not thrown: no stack trace per refused request.
 */
import { API_KEY_REFUSALS, type ApiKeyClaims, type ApiKeyRefusalReason } from "../auth/api-key-token";
import { readBearer } from "../auth/bearer";
import { loadedSigningKeys, signingKeys } from "../auth/signing-keys";
import { ADMIN_ALL_SCOPE, type GatewayConfig, gatewayConfig, keyConfig } from "../config";
import type { Env } from "../env";
import { refusal } from "../errors";
import type { RequestTarget } from "../http/request-target";
import { cachedEdgeState, fetchEdgeState } from "../keys/edge-state";
import { isolateCache, setBounded } from "../lib/bounded-map";
import { matchPolicy, normalizePath, type Requirement } from "./policy";
import { forward } from "./proxy";
import { recordUse } from "./usage";
import { cachedVerification, verifyAndCache } from "./verify-cache";

const AUTHENTICATED: Requirement = { kind: "authenticated" };
const BEARER_PREFIX = "Bearer ";
/** Bound on cached route decisions (method + raw path); the oldest go first. */
const MAX_ROUTE_DECISIONS = 4096;

type Decision = Requirement | "deny" | "bad-path";

let decisionsFor: GatewayConfig | undefined;
const decisions = isolateCache<string, Decision>("route-decisions", MAX_ROUTE_DECISIONS);

/** What the route policy asks of `method path`, cached per isolate for the config in force. */
function decide(config: GatewayConfig, method: string, path: string): Decision {
  if (decisionsFor !== config) {
    decisions.clear();
    decisionsFor = config;
  }
  const cacheKey = `${method} ${path}`;
  let decision = decisions.get(cacheKey);
  if (decision === undefined) {
    const segments = normalizePath(path);
    decision =
      segments === null
        ? "bad-path"
        : (matchPolicy(config.policy, method, segments) ?? (config.unmatched === "deny" ? "deny" : AUTHENTICATED));
    setBounded(decisions, cacheKey, decision, MAX_ROUTE_DECISIONS);
  }
  return decision;
}

function refuse(reason: ApiKeyRefusalReason): Response {
  return refusal("invalid_token", API_KEY_REFUSALS[reason], { challenge: "bearer" });
}

function hasAnyScope(granted: readonly string[], required: readonly string[]): boolean {
  if (granted.includes(ADMIN_ALL_SCOPE)) return true;
  for (const scope of required) if (granted.includes(scope)) return true;
  return false;
}

/** The verified claims of the request's key, or the refusal to send. */
async function authenticate(request: Request, env: Env, nowMs: number): Promise<ApiKeyClaims | Response> {
  const authorization = request.headers.get("authorization");
  const ring = loadedSigningKeys(env.SIGNING_KEYS) ?? (await signingKeys(env.SIGNING_KEYS));
  const config = keyConfig(env);
  // Fast path: a token this isolate has already judged (only well-formed tokens are ever cached).
  if (authorization?.startsWith(BEARER_PREFIX)) {
    const known = cachedVerification(authorization.slice(BEARER_PREFIX.length), ring, config, nowMs);
    if (known !== undefined) return known.ok ? known.claims : refuse(known.reason);
  }
  const credential = readBearer(authorization);
  if (credential.kind === "missing") {
    return refusal("invalid_token", "Missing API key: send Authorization: Bearer <api-key>", { challenge: "bearer-no-error" });
  }
  if (credential.kind === "malformed") return refusal("invalid_request", credential.reason, { challenge: "bearer" });
  const result = cachedVerification(credential.token, ring, config, nowMs) ?? (await verifyAndCache(credential.token, ring, config, nowMs));
  return result.ok ? result.claims : refuse(result.reason);
}

export async function handleGateway(request: Request, env: Env, ctx: ExecutionContext, target: RequestTarget): Promise<Response> {
  const config = gatewayConfig(env);
  const decision = decide(config, request.method, target.path);
  if (decision === "bad-path") return refusal("invalid_request", "The request path is not validly percent-encoded");
  if (decision === "deny") return refusal("not_found", "No route is configured for this request");
  if (decision.kind === "public") return forward(request, target, config, null);

  const nowMs = Date.now();
  const claims = await authenticate(request, env, nowMs);
  if (claims instanceof Response) return claims;

  const cached = cachedEdgeState(claims.keyId, nowMs);
  const edge = cached !== undefined ? cached : await fetchEdgeState(env.REVOCATIONS, claims.keyId, config.revocationCacheTtlMs, nowMs);
  if (edge !== null && edge.at * 1000 <= nowMs) return refuse(edge.state);

  if (decision.kind === "scopes" && !hasAnyScope(claims.scopes, decision.scopes)) {
    return refusal("insufficient_scope", "API key does not have required permissions", { challenge: "bearer", scope: decision.challenge });
  }

  recordUse(env.DB, ctx, claims.keyId, Math.floor(nowMs / 1000), config.lastUsedIntervalSeconds);
  return forward(request, target, config, { keyId: claims.keyId, tenant: claims.tenant, scopes: claims.scopes, subject: claims.sub });
}
