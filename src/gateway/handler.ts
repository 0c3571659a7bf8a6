/**
 * The data plane: every request that is not for the control plane. In order: the path contract
 * (path-contract.ts: a path an origin could read another way is refused), route policy, client
 * throttle (brute force), bearer key (signature, iss, aud, exp), edge record (revoked / rotated,
 * allowlist), scopes, rate limits and quotas (the key's and its limit group's, spending the route's
 * cost); one verdict, then forward or refuse.
 *
 * Never waits on D1 (the edge change feed is polled after the response), and in the steady state
 * awaits nothing but the origin: the key ring, verifications, edge records, route decisions and
 * rate-limit leases are all held per isolate. Refusals are values, not exceptions: no stack trace per refused request.
 */
import { recordAuthFailure, throttledFor } from "../abuse/auth-failures";
import { abuseConfig } from "../abuse/config";
import type { ApiKeyClaims } from "../auth/api-key-token";
import { readBearer } from "../auth/bearer";
import { assertionsEnabled, identityAssertion } from "../auth/identity-assertion";
import { loadedSigningKeys, signingKeys } from "../auth/signing-keys";
import { keyConfig } from "../config/keys";
import type { Env } from "../env";
import type { RequestTarget } from "../http/request-target";
import { edgeSnapshotRefreshIfDue } from "../keys/edge-cache";
import { edgeFeedPollIfDue } from "../keys/edge-feed";
import type { EdgeView } from "../keys/edge-record";
import { knownEdgeView, readEdgeView } from "../keys/edge-view";
import { recordLastUsed } from "../keys/last-used";
import { satisfyingScope } from "../keys/scopes";
import { isolateCache, setBounded } from "../lib/bounded-map";
import { allowlistAdmits } from "../lib/ip";
import { type CounterRef, decideFromLease, decideWithCounter, type LimitDecision } from "../ratelimit/leases";
import { recordUsage } from "../usage/events";
import { usageSink } from "../usage/sink";
import { rateLimitHeaders } from "../vocab/headers.mjs";
import { AUTH_FAILURE_REASONS } from "../vocab/refusals.mjs";
import type { UsageOutcome } from "../vocab/usage.mjs";
import { type GatewayConfig, gatewayConfig } from "./config";
import { RUNTIME_CLIENT_IP_HEADER } from "./origin-headers";
import { judgePath } from "./path-contract";
import { costOf, type Requirement, routeRule, UNMATCHED_RULE } from "./policy";
import { forward, originFailure, withHeaders } from "./proxy";
import { type Accepted, type Refused, refusalResponse, refused, type Verdict } from "./verdict";
import { cachedVerification, verifyAndCache } from "./verify-cache";

const AUTHENTICATED: Requirement = { kind: "authenticated", rule: UNMATCHED_RULE };
const BEARER_PREFIX = "Bearer ";
/** Bound on cached route decisions (method + raw path); the oldest go first. */
const MAX_ROUTE_DECISIONS = 4096;

/** What the route policy asks of a request, and the path the origin receives if it is accepted. */
interface Route {
  ok: true;
  requirement: Requirement;
  /** The path the policy judged (path-contract.ts): what the origin receives and the assertion binds. */
  path: string;
}

/** A route, or the refusal of a path no rule may judge (400) or none matches (UNMATCHED_ROUTES = "deny"). */
type RouteDecision = Route | Refused;

const NO_ROUTE: Refused = refused("no_route", UNMATCHED_RULE);

let decisionsFor: GatewayConfig | undefined;
const decisions = isolateCache<string, RouteDecision>("route-decisions", MAX_ROUTE_DECISIONS);

/** Why a path whose letter case picks a different rule than its folded form is refused. */
const CASE_AMBIGUOUS =
  "The request path's letter case selects a different route rule than its lower-case form; send it in the case the API uses";

/**
 * What the route policy asks of `method path`, cached per isolate for the config in force. A path
 * the path contract refuses is refused here, before any key work, and is not cached (a client
 * sending many of them cannot push good decisions out).
 */
function routeDecision(config: GatewayConfig, method: string, path: string): RouteDecision {
  if (decisionsFor !== config) {
    decisions.clear();
    decisionsFor = config;
  }
  const cacheKey = `${method} ${path}`;
  let decision = decisions.get(cacheKey);
  if (decision === undefined) {
    const judged = judgePath(path, config.pathNormalization);
    if (typeof judged === "string") return refused("bad_path", UNMATCHED_RULE, { detail: judged });
    const rule = routeRule(config.policy, method, judged);
    if (rule === "case-ambiguous") return refused("bad_path", UNMATCHED_RULE, { detail: CASE_AMBIGUOUS });
    const requirement = rule ?? (config.unmatched === "deny" ? null : AUTHENTICATED);
    decision = requirement === null ? NO_ROUTE : { ok: true, requirement, path: judged.forward };
    setBounded(decisions, cacheKey, decision, MAX_ROUTE_DECISIONS);
  }
  return decision;
}

/** The verified claims of the request's key, or the refusal. Throttled clients get no signature work. */
async function authenticate(request: Request, env: Env, ip: string | null, rule: string, nowMs: number): Promise<ApiKeyClaims | Refused> {
  const authorization = request.headers.get("authorization");
  const ring = loadedSigningKeys(env.SIGNING_KEYS) ?? (await signingKeys(env.SIGNING_KEYS));
  const config = keyConfig(env);
  // Fast path: a token this isolate has already judged (only well-formed tokens are ever cached).
  if (authorization?.startsWith(BEARER_PREFIX)) {
    const known = cachedVerification(authorization.slice(BEARER_PREFIX.length), ring, config, nowMs);
    if (known?.ok) return known.claims;
  }
  const throttled = throttledFor(ip, nowMs);
  if (throttled > 0) return refused("throttled", rule, { retryAfterS: throttled });
  const credential = readBearer(authorization);
  if (credential.kind === "missing") return refused("missing", rule);
  if (credential.kind === "malformed") return refused("malformed", rule, { detail: credential.reason });
  const result = cachedVerification(credential.token, ring, config, nowMs) ?? (await verifyAndCache(credential.token, ring, config, nowMs));
  return result.ok ? result.claims : refused(result.reason, rule, { claims: result.claims });
}

/** The counters a key's requests count against (its own, its limit group's), made once per edge view. */
const countersOfView = new WeakMap<EdgeView, readonly CounterRef[]>();
const NO_COUNTERS: readonly CounterRef[] = [];

function countersOf(claims: ApiKeyClaims, view: EdgeView | null): readonly CounterRef[] {
  if (view === null || (view.limits === null && view.group === null)) return NO_COUNTERS;
  let refs = countersOfView.get(view);
  if (refs === undefined) {
    const list: CounterRef[] = [];
    if (view.limits !== null) list.push({ kind: "key", id: claims.keyId, tenant: claims.tenant, limits: view.limits });
    if (view.group !== null) list.push({ kind: "group", id: view.group });
    refs = list;
    countersOfView.set(view, refs);
  }
  return refs;
}

function fromLimitDecision(decision: LimitDecision, claims: ApiKeyClaims, rule: string, env: Env): Verdict {
  switch (decision.kind) {
    case "admitted":
      return { ok: true, rule, claims, rateLimit: { policy: decision.policy, current: decision.rateLimit } };
    case "limited":
      return refused(decision.by.quota ? "quota_exceeded" : "rate_limited", rule, {
        claims,
        retryAfterS: decision.retryAfterS,
        rateLimit: { policy: decision.policy, current: decision.rateLimit },
        limitedBy: decision.by,
      });
    case "unavailable":
      // Logged by the lease code; the deployment chose what an unreachable counter means.
      if (abuseConfig(env).rateLimitFailureMode === "open") return { ok: true, rule, claims, rateLimit: { policy: decision.policy } };
      return refused("rate_limit_unavailable", rule, { claims, retryAfterS: 1 });
  }
}

/**
 * The checks once the key is known: its edge record (revoked, rotated, allowlist), the route's
 * scopes, its rate limits from this isolate's lease. Synchronous; undefined when the lease is empty
 * and the key's counter must be asked.
 */
function judgeKey(
  env: Env,
  claims: ApiKeyClaims,
  view: EdgeView | null,
  route: Requirement,
  ip: string | null,
  nowMs: number,
): Verdict | undefined {
  const { rule } = route;
  if (view !== null) {
    if (view.refused !== null && view.refused.at * 1000 <= nowMs) return refused(view.refused.state, rule, { claims });
    if (view.allowlist !== null && !allowlistAdmits(view.allowlist, ip)) return refused("ip_denied", rule, { claims });
  }
  let scope: string | null = null;
  if (route.kind === "scopes") {
    scope = satisfyingScope(claims.scopes, route.scopes);
    if (scope === null) return refused("insufficient_scope", rule, { claims, detail: route.challenge });
  }
  let verdict: Verdict = { ok: true, rule, claims };
  const counters = countersOf(claims, view);
  if (counters.length > 0) {
    const decision = decideFromLease(counters, costOf(route), nowMs);
    if (decision === undefined) return undefined;
    verdict = fromLimitDecision(decision, claims, rule, env);
  }
  return withKeyFacts(verdict, scope, view);
}

/** An accepted verdict with what the usage event and the origin learn about the key: the scope exercised, its metadata header. */
function withKeyFacts(verdict: Verdict, scope: string | null, view: EdgeView | null): Verdict {
  if (!verdict.ok) return verdict;
  if (scope !== null) verdict.scope = scope;
  if (view?.meta) verdict.meta = view.meta;
  return verdict;
}

/**
 * The verdict from what this isolate already holds (route decision, key ring, the token's
 * verification, the key's edge record and lease), without a promise or an await: the steady state
 * of a busy key. Undefined whenever anything must be fetched, verified or refused; `decide` then
 * does the whole thing.
 */
function decideFromCache(request: Request, env: Env, route: Requirement, ip: string | null, nowMs: number): Verdict | undefined {
  if (route.kind === "public") return { ok: true, rule: route.rule, claims: null };
  const ring = loadedSigningKeys(env.SIGNING_KEYS);
  const authorization = request.headers.get("authorization");
  if (ring === undefined || !authorization?.startsWith(BEARER_PREFIX)) return undefined;
  const known = cachedVerification(authorization.slice(BEARER_PREFIX.length), ring, keyConfig(env), nowMs);
  if (!known?.ok) return undefined;
  const view = knownEdgeView(known.claims.keyId, nowMs);
  return view === undefined ? undefined : judgeKey(env, known.claims, view, route, ip, nowMs);
}

/** Every check of the key, in order, to one verdict. */
async function decide(
  request: Request,
  env: Env,
  config: GatewayConfig,
  route: Requirement,
  ip: string | null,
  nowMs: number,
): Promise<Verdict> {
  const { rule } = route;

  const claims = await authenticate(request, env, ip, rule, nowMs);
  if ("ok" in claims) return claims;

  const known = knownEdgeView(claims.keyId, nowMs);
  const view =
    known !== undefined
      ? known
      : await readEdgeView({ kv: env.EDGE_RECORDS, d1: env.DB }, claims.keyId, config.revocationCacheTtlMs, nowMs);
  const verdict = judgeKey(env, claims, view, route, ip, nowMs);
  if (verdict !== undefined) return verdict;
  // The key counts against counters and this isolate's leases cannot cover the request: ask them.
  const counters = countersOf(claims, view);
  const decided = fromLimitDecision(await decideWithCounter(env.RATE_LIMITER, counters, costOf(route), nowMs), claims, rule, env);
  return withKeyFacts(decided, route.kind === "scopes" ? satisfyingScope(claims.scopes, route.scopes) : null, view);
}

/** The origin's answer to an accepted request, with the RateLimit fields of a limited key. */
async function forwardAccepted(
  request: Request,
  env: Env,
  ctx: ExecutionContext,
  target: RequestTarget,
  config: GatewayConfig,
  path: string,
  verdict: Accepted,
  nowMs: number,
) {
  const { claims } = verdict;
  if (claims === null) return forward(request, target, path, config, null);
  // last_used comes from the usage roll-up; without the pipeline the gateway writes it itself.
  if (usageSink(env) === null) recordLastUsed(env.DB, ctx, claims.keyId, Math.floor(nowMs / 1000), config.lastUsedIntervalSeconds);
  // IDENTITY_ASSERTION = "jwt": a signed copy of the identity, bound to this method and path (src/auth/identity-assertion.ts).
  const assertion = assertionsEnabled(env) ? await identityAssertion(env, claims, request.method, path, nowMs) : undefined;
  const response = await forward(request, target, path, config, claims, assertion, config.forwardKeyMeta ? verdict.meta : undefined);
  if (!verdict.rateLimit) return response;
  return withHeaders(response, rateLimitHeaders(verdict.rateLimit));
}

export async function handleGateway(request: Request, env: Env, ctx: ExecutionContext, target: RequestTarget): Promise<Response> {
  const config = gatewayConfig(env);
  const nowMs = Date.now();
  const feedPoll = edgeFeedPollIfDue(env.DB, config.revocationCacheTtlMs, nowMs);
  if (feedPoll !== undefined) ctx.waitUntil(feedPoll);
  const refresh = edgeSnapshotRefreshIfDue(env.EDGE_RECORDS, config.revocationCacheTtlMs, nowMs);
  if (refresh !== undefined) ctx.waitUntil(refresh);
  const ip = request.headers.get(RUNTIME_CLIENT_IP_HEADER);
  // A refused path (or route) costs nothing more: no key is looked at.
  const route = routeDecision(config, request.method, target.path);
  let verdict: Verdict = !route.ok
    ? route
    : (decideFromCache(request, env, route.requirement, ip, nowMs) ?? (await decide(request, env, config, route.requirement, ip, nowMs)));
  if (!verdict.ok && AUTH_FAILURE_REASONS.has(verdict.reason)) {
    const throttled = recordAuthFailure(ip, abuseConfig(env).authFailureLimit, env.AUTH_FAILURES, ctx, nowMs);
    if (throttled > 0) verdict = refused("throttled", verdict.rule, { retryAfterS: throttled });
  }
  let response: Response;
  let outcome: UsageOutcome;
  let latencyMs = -1;
  if (verdict.ok) {
    // Only a route (never a refused path) leads to an accepted verdict.
    response = await forwardAccepted(request, env, ctx, target, config, (route as Route).path, verdict, nowMs);
    latencyMs = Date.now() - nowMs;
    outcome = originFailure(response) ?? "accepted";
  } else {
    response = refusalResponse(verdict);
    outcome = verdict.reason;
  }
  const sink = usageSink(env);
  if (sink !== null) {
    // Attributed to a tenant and key only when the key's signature verified.
    const claims = verdict.claims ?? null;
    const country = (request.cf?.country as string | undefined) ?? null;
    recordUsage(
      sink,
      ctx,
      [
        nowMs,
        claims?.tenant ?? null,
        claims?.keyId ?? null,
        request.method,
        verdict.rule,
        response.status,
        outcome,
        ip,
        country,
        latencyMs,
        verdict.ok ? (verdict.scope ?? null) : null,
      ],
      nowMs,
    );
  }
  return response;
}
