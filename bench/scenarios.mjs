// `npm run bench`'s scenarios, as data. A new scenario is one entry in SCENARIOS (and, if it needs
// keys of a new kind, one entry in KEY_SETS). bench/run.mjs resolves each entry, creates the keys
// the enabled ones name, runs them in alternating order and judges their targets.
//
// Scenario fields:
//   id, name          table label; `name` may be a function of the run config
//   via               where requests go: "origin" (direct), "passthrough" (the baseline worker),
//                     "keygate" (a keygate worker's own socket), "entry" (miniflare's entry worker)
//   worker            optional own keygate worker (own isolate, same D1/KV/Durable Objects):
//                     { name, vars } where vars override wrangler.toml's (e.g. USAGE_EVENTS = "off")
//   keys              { set, count }: how many keys of KEY_SETS[set] it uses (count may be a function)
//   method, path      the request; `token(ctx)` gives its bearer key, `headers` any other headers
//   perRequest(ctx)   optional: returns a function giving per-request headers (key rotation, forgeries)
//   prime             send every key of the rotation once before measuring (verify each once)
//   expect            { status: code or [codes], origin: "all" | "never" }: checked on every response
//   targets           from bench/lib/targets.mjs, judged against other scenarios of the same run
//   enabled           false (or a function of the config) keeps the entry out of a run unless
//                     `--enable id`; `needs` says what it waits for
// ctx = { cfg, keys: { [set]: [{ id, apiKey }] }, unseen: [apiKey], tamper(token), forge() } (bench/lib/management.mjs);
// `unseen` are valid keys minted by the bench with the deployment's signing key, each sent once by (p).
import { cpuAtMostAbove, cpuBelow, cpuWithinPctOf, ioPer1kAtMost, p99AtMostAboveB, throughputAtLeast } from "./lib/targets.mjs";

export const TENANT = "bench";
export const PROTECTED_PATH = "/api/v1/protected-resource";
// wrangler.toml's ROUTE_POLICY: POST /api/v1/resources/** needs api:write; bench keys hold api:read.
export const SCOPED_PATH = "/api/v1/resources";
/** One client address for the brute-force scenario (TEST-NET-3, RFC 5737). */
const ATTACKER_IP = "203.0.113.7";

/**
 * Worker features the disabled entries wait for. Switch one on when the worker has it (or run
 * with `--enable j,k`); nothing else needs to change.
 */
export const FEATURES = {
  // Issue 8: `rate_limits` on create/rotate, Durable Object counters, 429 rate_limited.
  rateLimits: true,
  // Issue 8: failed authentications throttled per CF-Connecting-IP (AUTH_FAILURE_LIMIT per 60 s).
  authFailureThrottle: true,
  // Usage analytics: a USAGE_EVENTS var that turns the usage pipeline off, for the "pipeline off" row.
  usageEventsVar: true,
  // Issue 19: quotas and limit groups (rows m, n, o).
  quotas: true,
};

/** A quota no bench run reaches (calls a month). */
const QUOTA_NEVER_REACHED = 1_000_000_000_000;

/** Vars every keygate worker of the bench gets on top of wrangler.toml's (e.g. to turn on DO_CALLS_HEADER). */
export const BENCH_VARS = {};

const readKey = (i, name) => ({ name: `${name}-${i}`, scopes: ["api:read"], expires_in_days: 30 });
const bearer = (token) => ({ authorization: `Bearer ${token}` });

/** Key sets, created in this order through the management API (see run.mjs: the first keys sequentially). */
export const KEY_SETS = {
  pool: { create: (i) => readKey(i, "bench") },
  revoked: {
    create: (i) => readKey(i, "bench-revoked"),
    // Revoked after creation; the time of the first revoke is reported with the creates.
    after: async ({ keys, client }) => {
      let firstMs;
      for (const k of keys) {
        const res = await client.revoke(k.id);
        if (res.status !== 200) throw new Error(`revoke failed: ${res.status} ${JSON.stringify(res.body)}`);
        firstMs ??= res.ms;
      }
      return { revokeMs: firstMs };
    },
  },
  // A limit no bench run reaches: measures the cost of carrying a limit.
  unlimitedEnough: {
    create: (i) => ({ ...readKey(i, "bench-limited"), rate_limits: [{ name: "burst", limit: 1_000_000_000, window_seconds: 60 }] }),
  },
  // One request per hour, spent right after creation: every measured request is over the limit.
  exhausted: {
    create: (i) => ({ ...readKey(i, "bench-exhausted"), rate_limits: [{ name: "burst", limit: 1, window_seconds: 3600 }] }),
    after: async ({ keys, urls }) => {
      for (const k of keys) {
        const res = await fetch(urls.keygate + PROTECTED_PATH, { headers: bearer(k.apiKey) });
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`spending the one allowed request of ${k.id}: got ${res.status}`);
      }
      return {};
    },
  },
};

Object.assign(KEY_SETS, {
  // A quota no bench run reaches: the cost of carrying a quota (m).
  quotaEnough: {
    create: (i) => ({ ...readKey(i, "bench-quota"), quota: { limit: QUOTA_NEVER_REACHED, period: "month" } }),
  },
  // Keys in a limit group with a quota no run reaches (n): the group is made after the keys, which then join it.
  grouped: {
    create: (i) => readKey(i, "bench-grouped"),
    after: async ({ keys, client }) => {
      const group = await client.createGroup({ name: "bench", quota: { limit: QUOTA_NEVER_REACHED, period: "month" } });
      if (group.status !== 201) throw new Error(`limit group create failed: ${group.status} ${JSON.stringify(group.body)}`);
      for (const k of keys) {
        const res = await client.patch(k.id, { limit_group: group.body.id });
        if (res.status !== 200) throw new Error(`joining the group failed: ${res.status} ${JSON.stringify(res.body)}`);
      }
      return {};
    },
  },
  // A quota of one call that never refills, spent right after creation (o): every request is refused.
  quotaSpent: {
    create: (i) => ({ ...readKey(i, "bench-quota-spent"), quota: { limit: 1, period: "none" } }),
    after: async ({ keys, urls }) => {
      for (const k of keys) {
        const res = await fetch(urls.keygate + PROTECTED_PATH, { headers: bearer(k.apiKey) });
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`spending the one call of ${k.id}: got ${res.status}`);
      }
      return {};
    },
  },
});

/** A rotation through `tokens`, one global counter shared by all connections. */
function rotation(tokens) {
  let next = 0;
  return () => bearer(tokens[next++ % tokens.length]);
}

export const SCENARIOS = [
  {
    id: "a",
    name: "origin direct",
    via: "origin",
    keys: { set: "pool", count: 1 },
    method: "GET",
    path: PROTECTED_PATH,
    token: ({ keys }) => keys.pool[0].apiKey,
    expect: { status: 200, origin: "all" },
    targets: [],
  },
  {
    id: "b",
    name: "pass-through worker",
    via: "passthrough",
    keys: { set: "pool", count: 1 },
    method: "GET",
    path: PROTECTED_PATH,
    token: ({ keys }) => keys.pool[0].apiKey,
    expect: { status: 200, origin: "all" },
    targets: [],
  },
  {
    id: "c",
    name: "keygate, 1 valid key",
    via: "keygate",
    keys: { set: "pool", count: 1 },
    method: "GET",
    path: PROTECTED_PATH,
    token: ({ keys }) => keys.pool[0].apiKey,
    expect: { status: 200, origin: "all" },
    // Issue 13: every check on, at most 1.10x the pass-through's workerd CPU, at least 0.90x its
    // throughput, p99 within 1 ms; issue 9: the usage pipeline adds at most 5 us.
    targets: [cpuWithinPctOf("b", 10), throughputAtLeast(0.9), p99AtMostAboveB(1), cpuAtMostAbove("c-off", 5)],
  },
  {
    id: "d",
    name: (cfg) => `keygate, ${cfg.keys} keys round-robin`,
    via: "keygate",
    keys: { set: "pool", count: (cfg) => cfg.keys },
    method: "GET",
    path: PROTECTED_PATH,
    token: ({ keys }) => keys.pool[0].apiKey,
    perRequest: ({ cfg, keys }) => rotation(keys.pool.slice(0, cfg.keys).map((k) => k.apiKey)),
    expect: { status: 200, origin: "all" },
    targets: [throughputAtLeast(0.85)],
  },
  {
    id: "e",
    name: "keygate, bad signature",
    via: "keygate",
    keys: { set: "pool", count: 1 },
    method: "GET",
    path: PROTECTED_PATH,
    token: ({ keys, tamper }) => tamper(keys.pool[0].apiKey),
    expect: { status: 401, origin: "never" },
    targets: [throughputAtLeast(1.5)],
  },
  {
    id: "f",
    name: "keygate, revoked key",
    via: "keygate",
    keys: { set: "revoked", count: 1 },
    method: "GET",
    path: PROTECTED_PATH,
    token: ({ keys }) => keys.revoked[0].apiKey,
    expect: { status: 401, origin: "never" },
    targets: [throughputAtLeast(1.5)],
  },
  {
    id: "g",
    name: "keygate, missing scope",
    via: "keygate",
    keys: { set: "pool", count: 1 },
    method: "POST",
    path: SCOPED_PATH,
    token: ({ keys }) => keys.pool[0].apiKey,
    expect: { status: 403, origin: "never" },
    targets: [throughputAtLeast(1.5)],
  },
  {
    id: "i",
    name: (cfg) => `keygate, ${cfg.manyKeys} keys round-robin`,
    via: "keygate",
    // Its own isolate, so that its verification cache holds exactly these keys: the other
    // scenarios' keys would be extra entries in the same bounded cache.
    worker: { name: "keygate-many-keys", vars: {} },
    keys: { set: "pool", count: (cfg) => cfg.manyKeys },
    method: "GET",
    path: PROTECTED_PATH,
    token: ({ keys }) => keys.pool[0].apiKey,
    perRequest: ({ cfg, keys }) => rotation(keys.pool.slice(0, cfg.manyKeys).map((k) => k.apiKey)),
    prime: true,
    expect: { status: 200, origin: "all" },
    targets: [cpuWithinPctOf("c", 5)],
  },
  {
    id: "j",
    name: "keygate, rate limit not reached",
    via: "keygate",
    keys: { set: "unlimitedEnough", count: 1 },
    method: "GET",
    path: PROTECTED_PATH,
    token: ({ keys }) => keys.unlimitedEnough[0].apiKey,
    expect: { status: 200, origin: "all" },
    targets: [cpuAtMostAbove("c", 10)],
    enabled: FEATURES.rateLimits,
    needs: "rate_limits on create (issue 8)",
  },
  {
    id: "k",
    name: "keygate, over its rate limit",
    via: "keygate",
    keys: { set: "exhausted", count: 1 },
    method: "GET",
    path: PROTECTED_PATH,
    token: ({ keys }) => keys.exhausted[0].apiKey,
    expect: { status: 429, origin: "never" },
    targets: [cpuBelow("b")],
    enabled: FEATURES.rateLimits,
    needs: "rate_limits on create (issue 8)",
  },
  {
    id: "m",
    name: "keygate, quota not reached",
    via: "keygate",
    keys: { set: "quotaEnough", count: 1 },
    method: "GET",
    path: PROTECTED_PATH,
    token: ({ keys }) => keys.quotaEnough[0].apiKey,
    expect: { status: 200, origin: "all" },
    // Issue 19: within +10 µs workerd CPU of (j).
    targets: [cpuAtMostAbove("j", 10)],
    enabled: FEATURES.quotas,
    needs: "quotas (issue 19)",
  },
  {
    id: "n",
    name: "keygate, key in a limit group with a quota",
    via: "keygate",
    keys: { set: "grouped", count: 1 },
    method: "GET",
    path: PROTECTED_PATH,
    token: ({ keys }) => keys.grouped[0].apiKey,
    expect: { status: 200, origin: "all" },
    targets: [cpuAtMostAbove("j", 10)],
    enabled: FEATURES.quotas,
    needs: "limit groups (issue 19)",
  },
  {
    id: "o",
    name: "keygate, quota-exhausted flood",
    via: "keygate",
    keys: { set: "quotaSpent", count: 1 },
    method: "GET",
    path: PROTECTED_PATH,
    token: ({ keys }) => keys.quotaSpent[0].apiKey,
    expect: { status: 429, origin: "never" },
    targets: [cpuBelow("b")],
    enabled: FEATURES.quotas,
    needs: "quotas (issue 19)",
  },
  {
    id: "l",
    name: "keygate, one client forging keys",
    via: "keygate",
    keys: { set: "pool", count: 1 },
    method: "GET",
    path: PROTECTED_PATH,
    token: ({ keys }) => keys.pool[0].apiKey,
    headers: { "cf-connecting-ip": ATTACKER_IP },
    // A fresh well-formed forgery per request: the costly refusal (a full signature check each).
    perRequest:
      ({ forge }) =>
      () =>
        bearer(forge()),
    // Until throttling lands every attempt is a 401; then past AUTH_FAILURE_LIMIT they are 429s.
    expect: { status: FEATURES.authFailureThrottle ? [401, 429] : [401], origin: "never" },
    targets: [cpuBelow("b")],
  },
  {
    id: "r",
    name: "keygate refusing a confused path (400)",
    via: "keygate",
    keys: { set: "pool", count: 1 },
    method: "GET",
    // Issue 16: judged as /health before the path contract; now refused before any key work.
    // (Rows m-o are the quota rows of issue 19 (above); (p) is below, (q) is measured apart: bench/lib/cold-start.mjs.)
    path: "/api/v1/admin/users/42%2F..%2F..%2F..%2F..%2F..%2Fhealth",
    token: ({ keys }) => keys.pool[0].apiKey,
    expect: { status: 400, origin: "never" },
    targets: [cpuBelow("b")],
  },
  {
    id: "p",
    name: "keygate, a key this isolate has not seen",
    via: "keygate",
    // Its own isolate: a fresh key per request churns the verification cache, which (c)-(g) share.
    worker: { name: "keygate-unseen", vars: {} },
    keys: { set: "pool", count: 1 },
    method: "GET",
    path: PROTECTED_PATH,
    token: ({ unseen }) => unseen[0],
    // Each minted key once (cfg.unseenKeys of them; a run that sends more reuses them, and says so).
    perRequest: ({ unseen }) => rotation(unseen),
    expect: { status: 200, origin: "all" },
    // Issue 18: at most (c) + 150 us, and no KV read per request in the steady state.
    targets: [cpuAtMostAbove("c", 150), ioPer1kAtMost("kv", 1)],
  },
  {
    id: "c-off",
    name: "keygate, 1 valid key, usage pipeline off",
    via: "keygate",
    worker: { name: "keygate-usage-off", vars: { USAGE_EVENTS: "off" } },
    keys: { set: "pool", count: 1 },
    method: "GET",
    path: PROTECTED_PATH,
    token: ({ keys }) => keys.pool[0].apiKey,
    expect: { status: 200, origin: "all" },
    targets: [],
    enabled: FEATURES.usageEventsVar,
    needs: "a USAGE_EVENTS var (usage analytics)",
  },
  {
    id: "c'",
    name: "keygate via miniflare entry",
    via: "entry",
    keys: { set: "pool", count: 1 },
    method: "GET",
    path: PROTECTED_PATH,
    token: ({ keys }) => keys.pool[0].apiKey,
    expect: { status: 200, origin: "all" },
    targets: [],
    enabled: (cfg) => cfg.entrySocket,
    needs: "--entry",
  },
];
