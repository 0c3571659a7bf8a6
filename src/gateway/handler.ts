/**
 * The data plane: every request that is not for the control plane. In order: route policy,
 * bearer key (signature, iss, aud, exp), edge state (revoked / rotated), scopes, then forward.
 * Never touches D1 on the request path.
 */
import { API_KEY_REFUSALS, type ApiKeyRefusalReason } from "../auth/api-key-token";
import { readBearer } from "../auth/bearer";
import { signingKeys } from "../auth/signing-keys";
import { ADMIN_ALL_SCOPE, gatewayConfig, keyConfig } from "../config";
import type { Env } from "../env";
import { ApiError } from "../errors";
import { readEdgeState } from "../keys/edge-state";
import { matchPolicy, normalizePath, type Requirement } from "./policy";
import { forward } from "./proxy";
import { recordUse } from "./usage";
import { verifyApiKeyCached } from "./verify-cache";

const AUTHENTICATED: Requirement = { kind: "authenticated" };

function refuse(reason: ApiKeyRefusalReason): never {
  throw new ApiError("invalid_token", API_KEY_REFUSALS[reason], { challenge: "bearer" });
}

function hasAnyScope(granted: readonly string[], required: readonly string[]): boolean {
  if (granted.includes(ADMIN_ALL_SCOPE)) return true;
  for (const scope of required) if (granted.includes(scope)) return true;
  return false;
}

export async function handleGateway(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
  const config = gatewayConfig(env);
  const url = new URL(request.url);
  const segments = normalizePath(url.pathname);
  if (segments === null) throw new ApiError("invalid_request", "The request path is not validly percent-encoded");

  const requirement = matchPolicy(config.policy, request.method, segments) ?? (config.unmatched === "deny" ? null : AUTHENTICATED);
  if (requirement === null) throw new ApiError("not_found", "No route is configured for this request");
  if (requirement.kind === "public") {
    return forward(request, url, {
      origin: config.origin,
      timeoutMs: config.originTimeoutMs,
      forwardAuthorization: config.forwardAuthorization,
      identity: null,
    });
  }

  const credential = readBearer(request.headers.get("authorization"));
  if (credential.kind === "missing") {
    throw new ApiError("invalid_token", "Missing API key: send Authorization: Bearer <api-key>", { challenge: "bearer-no-error" });
  }
  if (credential.kind === "malformed") throw new ApiError("invalid_request", credential.reason, { challenge: "bearer" });

  const nowMs = Date.now();
  const result = await verifyApiKeyCached(credential.token, await signingKeys(env.SIGNING_KEYS), keyConfig(env), nowMs);
  if (!result.ok) refuse(result.reason);
  const { claims } = result;

  const edge = await readEdgeState(env.REVOCATIONS, claims.keyId, config.revocationCacheTtlMs, nowMs);
  if (edge !== null && edge.at * 1000 <= nowMs) refuse(edge.state);

  if (requirement.kind === "scopes" && !hasAnyScope(claims.scopes, requirement.scopes)) {
    throw new ApiError("insufficient_scope", "API key does not have required permissions", {
      challenge: "bearer",
      scope: requirement.challenge,
    });
  }

  recordUse(env.DB, ctx, claims.keyId, Math.floor(nowMs / 1000), config.lastUsedIntervalSeconds);
  return forward(request, url, {
    origin: config.origin,
    timeoutMs: config.originTimeoutMs,
    forwardAuthorization: config.forwardAuthorization,
    identity: { keyId: claims.keyId, tenant: claims.tenant, scopes: claims.scopes, subject: claims.sub },
  });
}
