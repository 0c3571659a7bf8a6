#!/usr/bin/env node
// `npm run soak`: keygate's production bundle under a long, mixed load, judged for correctness and
// for memory that does not grow.
//
// workerd (miniflare's Node API, local D1/KV and every binding wrangler.toml declares) runs two
// keygate isolates on one D1/KV: `keygate` serves management traffic and half of the gateway
// traffic, `keygate-b` the other half, so a revocation must travel through the edge change feed
// or KV to reach it (within REVOCATION_CACHE_TTL_SECONDS either way: local KV has no edge cache). A Node origin answers. Setup
// creates a pool of keys larger than the verification cache and sends each once through each
// isolate, so caches start at their steady state. Gateway traffic mixes valid keys from that pool
// with refusals of every kind (missing, malformed, forged, tampered, expired, revoked, missing
// scope) and keys whose state just changed; management traffic creates, rotates (with and
// without grace) and revokes keys.
//
// Reports requests by status, 5xx and transport errors, wrong answers (a valid key refused, a
// revoked key accepted after the bound, any other unexpected status), and every 30 s each
// isolate's V8 heap after a forced collection and its caches' sizes (inspector), and workerd's
// RSS. PASS needs: no errors and no wrong answers, heap after GC flat (spread <= 10 %) after
// warm-up, every cache within its bound. Exit code 0 on PASS, 1 on FAIL.
//
//   npm run soak                    10 minutes, writes bench/soak-results.json
//   npm run soak -- --minutes 2     shorter (or --seconds 90); writes bench/out/soak-results.json
//   npm run soak -- --rate 2000 --connections 8 --keys 10500 --sample-seconds 30 --warmup-seconds 120
//   npm run soak -- --var REVOCATION_CACHE_TTL_SECONDS=2
import { randomBytes, randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { bundle, readWranglerConfig } from "./lib/bundle.mjs";
import { positiveNumber, printUsageAndExit, toolVersions, varOverrides } from "./lib/cli.mjs";
import { rssBytes } from "./lib/cpu.mjs";
import { cacheSizes, devtools, heapAfterGc } from "./lib/inspector.mjs";
import { elapsedSec, installSignalHandlers, isInterrupted, log, onCleanup, runMain, sleep, startWatchdog } from "./lib/lifecycle.mjs";
import { cannon, loadAutocannon, prime } from "./lib/load.mjs";
import { createKeys, forgedTokenFactory, managementClient, tamperSignature, userToken } from "./lib/management.mjs";
import { BENCH, OUT, ROOT, startOrigin } from "./lib/processes.mjs";
import { table } from "./lib/report.mjs";
import { round } from "./lib/stats.mjs";
import { applyMigrations, startWorkerd } from "./lib/workerd.mjs";
import { BENCH_VARS, FEATURES } from "./scenarios.mjs";

installSignalHandlers();

/** Quiet time between the end of the load and the last sample. */
const SETTLE_BEFORE_LAST_SAMPLE_MS = 10_000;
const TENANT = "soak";
const ISOLATES = ["keygate", "keygate-b"];
/** The isolate that serves management traffic (and so changes state first). */
const PRIMARY = ISOLATES[0];
/** Slack on every time bound: request in flight, second granularity of stored times. */
const SLACK_MS = 1000;
/** A changed key stays in the "recent" mix this long after its last possible refusal deadline. */
const RECENT_AFTER_DEADLINE_MS = 20_000;
/** Revoked/rotated keys kept for the "revoked" mix (the oldest drop out). */
const MAX_SETTLED_KEYS = 2000;
const EXPIRED_TOKENS = 200;
const DEFAULT_SECONDS = 600;
/** Heap after GC may vary by this much after warm-up (max / min - 1). */
const HEAP_FLAT_PCT = 10;
/** Key pool when the worker exposes no verified-keys cache bound to size it by. */
const FALLBACK_POOL = 2000;

const { values: argv } = parseArgs({
  options: {
    minutes: { type: "string" },
    seconds: { type: "string" },
    rate: { type: "string", default: "2000" },
    connections: { type: "string", default: "8" },
    keys: { type: "string" },
    "sample-seconds": { type: "string", default: "30" },
    "warmup-seconds": { type: "string" },
    "mgmt-interval-ms": { type: "string", default: "250" },
    "create-concurrency": { type: "string", default: "16" },
    var: { type: "string", multiple: true, default: [] },
    out: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});
if (argv.help) printUsageAndExit(import.meta.filename);
const durationSec =
  argv.seconds !== undefined
    ? positiveNumber("seconds", argv.seconds)
    : argv.minutes !== undefined
      ? positiveNumber("minutes", argv.minutes) * 60
      : DEFAULT_SECONDS;
const CONFIG = {
  durationSec,
  rate: Math.round(positiveNumber("rate", argv.rate)),
  connections: Math.round(positiveNumber("connections", argv.connections)),
  keys: argv.keys === undefined ? undefined : Math.round(positiveNumber("keys", argv.keys)),
  sampleSec: positiveNumber("sample-seconds", argv["sample-seconds"]),
  // Long enough for every key of the pool to pass through both isolates (caches at their bounds).
  warmupSec:
    argv["warmup-seconds"] === undefined ? Math.min(120, durationSec / 3) : positiveNumber("warmup-seconds", argv["warmup-seconds"]),
  mgmtIntervalMs: positiveNumber("mgmt-interval-ms", argv["mgmt-interval-ms"]),
  createConcurrency: Math.round(positiveNumber("create-concurrency", argv["create-concurrency"])),
  varOverrides: varOverrides(argv.var),
};
// Setup (bundle, ~10k keys created and sent once through each isolate) takes two to four minutes
// on a shared 2-core machine; then the soak itself.
startWatchdog((420 + CONFIG.durationSec * 1.2) * 1000, "soak");

// ---------------------------------------------------------------------------------------------
// Keys and their states, as the soak knows them.
const pick = (list) => list[Math.floor(Math.random() * list.length)];

/** Active keys, O(1) random pick and removal. */
class KeyPool {
  items = [];
  add(key) {
    key.poolIndex = this.items.length;
    this.items.push(key);
  }
  remove(key) {
    const last = this.items.pop();
    if (last !== key) {
      this.items[key.poolIndex] = last;
      last.poolIndex = key.poolIndex;
    }
    key.poolIndex = -1;
  }
  random() {
    return pick(this.items);
  }
}

/**
 * When an isolate must refuse a key whose change completed at `changedAt` (ms, our clock) with
 * cut-off `cutoffMs`: the isolate that served the change at once (pinned in its cache); the other
 * within REVOCATION_CACHE_TTL_SECONDS (its feed poll, or its cached record expiring). Local KV adds nothing.
 */
function refuseBy(key, isolate, ttlMs) {
  return (isolate === PRIMARY ? Math.max(key.changedAt, key.cutoffMs) : Math.max(key.cutoffMs, key.changedAt + ttlMs)) + SLACK_MS;
}

// ---------------------------------------------------------------------------------------------
// Gateway traffic: kinds as data. `request(state)` returns { method, path, headers, key? };
// `judge(status, ctx, state)` returns null when the answer is right, else why it is wrong.
const expectStatus = (expected, what) => (status) => (status === expected ? null : `${what}: expected ${expected}, got ${status}`);
const bearer = (token) => ({ authorization: `Bearer ${token}` });
const resourcePath = () => `/api/v1/resources/${Math.floor(Math.random() * 10_000)}`;

/** A key that was active when the request was sent must be accepted... */
function judgeValid(status, ctx) {
  if (status === 200) return null;
  // ...unless the management loop started changing it before the answer came: a fair refusal.
  if (status === 401 && ctx.key.changeStartedAt !== undefined && ctx.key.changeStartedAt <= ctx.answeredAt) return null;
  return `valid key refused: got ${status}`;
}

const TRAFFIC = [
  {
    kind: "valid",
    weight: 55,
    // Random paths: 10,000 distinct ones, more than the route-decision cache holds.
    request: (s) => {
      const key = s.live.random();
      return { method: "GET", path: resourcePath(), headers: bearer(key.apiKey), key };
    },
    judge: (status, ctx) => judgeValid(status, ctx),
  },
  {
    kind: "recently changed",
    weight: 8,
    request: (s) => {
      const key = s.recent.length ? pick(s.recent) : s.live.random();
      return { method: "GET", path: resourcePath(), headers: bearer(key.apiKey), key };
    },
    judge: (status, ctx, s) => {
      const key = ctx.key;
      if (key.changedAt === undefined) return judgeValid(status, ctx);
      if (status === 200) {
        const deadline = refuseBy(key, ctx.isolate, s.ttlMs);
        s.noteAcceptedAfterChange(ctx, key);
        return ctx.sentAt > deadline
          ? `${key.state} key accepted ${ctx.sentAt - deadline + SLACK_MS} ms after its bound on ${ctx.isolate}`
          : null;
      }
      if (status === 401) {
        // A rotation's grace period: the old key is valid until its cut-off.
        return key.graceMs > 0 && ctx.answeredAt < key.changeStartedAt + key.graceMs - SLACK_MS ? "key in its grace period refused" : null;
      }
      return `changed key: expected 200 or 401, got ${status}`;
    },
  },
  {
    kind: "revoked",
    weight: 5,
    request: (s) => {
      const key = s.settled.length ? pick(s.settled) : undefined;
      return { method: "GET", path: resourcePath(), headers: bearer(key ? key.apiKey : s.forge()), key };
    },
    judge: expectStatus(401, "revoked or rotated key"),
  },
  {
    kind: "missing",
    weight: 4,
    request: () => ({ method: "GET", path: resourcePath(), headers: {} }),
    judge: expectStatus(401, "no credential"),
  },
  {
    kind: "malformed",
    weight: 4,
    request: () => ({ method: "GET", path: resourcePath(), headers: { authorization: "Bearer %%not-a-token%%" } }),
    judge: expectStatus(400, "malformed credential"),
  },
  {
    kind: "forged",
    weight: 6,
    request: (s) => ({ method: "GET", path: resourcePath(), headers: bearer(s.forge()) }),
    judge: expectStatus(401, "forged key"),
  },
  {
    kind: "tampered",
    weight: 3,
    request: (s) => ({ method: "GET", path: resourcePath(), headers: bearer(tamperSignature(s.live.random().apiKey)) }),
    judge: expectStatus(401, "tampered signature"),
  },
  {
    kind: "expired",
    weight: 4,
    request: (s) => ({ method: "GET", path: resourcePath(), headers: bearer(pick(s.expired)) }),
    judge: expectStatus(401, "expired key"),
  },
  {
    kind: "missing scope",
    weight: 4,
    request: (s) => {
      const key = s.live.random();
      return { method: "POST", path: resourcePath(), headers: bearer(key.apiKey), key };
    },
    // The key's state is checked before its scopes: a key being revoked meanwhile gets 401.
    judge: (status, ctx) =>
      status === 403 || (status === 401 && ctx.key.changeStartedAt !== undefined && ctx.key.changeStartedAt <= ctx.answeredAt)
        ? null
        : `key without api:write: expected 403, got ${status}`,
  },
  {
    kind: "public route",
    weight: 2,
    request: () => ({ method: "GET", path: "/health", headers: {} }),
    judge: expectStatus(200, "public route"),
  },
  {
    // Issue 8: keys with a small limit; 429 beyond it, and never more than the limit accepted per
    // window (checked loosely: accepted <= limit x windows touched, whatever the window alignment).
    kind: "rate-limited",
    weight: 4,
    enabled: FEATURES.rateLimits,
    request: (s) => {
      const key = pick(s.limited);
      return { method: "GET", path: resourcePath(), headers: bearer(key.apiKey), key };
    },
    judge: (status, ctx, s) => {
      if (status === 429) return null;
      if (status !== 200) return `rate-limited key: expected 200 or 429, got ${status}`;
      const key = ctx.key;
      key.accepted = (key.accepted ?? 0) + 1;
      const windows = Math.ceil((ctx.answeredAt - s.startedAt) / (key.windowSeconds * 1000)) + 1;
      return key.accepted > key.limit * windows
        ? `rate limit exceeded: ${key.accepted} accepted, limit ${key.limit} per ${key.windowSeconds} s`
        : null;
    },
  },
].filter((t) => t.enabled !== false);

const LIMITED_KEYS = 20;
const LIMIT = { name: "soak", limit: 50, window_seconds: 60 };

/** Weighted random choice of a traffic kind. */
function chooser(kinds) {
  const total = kinds.reduce((a, k) => a + k.weight, 0);
  return () => {
    let r = Math.random() * total;
    for (const k of kinds) {
      r -= k.weight;
      if (r < 0) return k;
    }
    return kinds[kinds.length - 1];
  };
}

// ---------------------------------------------------------------------------------------------
// Tallies.
function tally() {
  return {
    requests: 0,
    byStatus: {},
    byKind: {},
    serverErrors: 0,
    wrong: 0,
    wrongByReason: {},
    wrongExamples: [],
    acceptedAfterChange: { [ISOLATES[0]]: 0, [ISOLATES[1]]: 0 },
    maxAcceptedLagMs: { [ISOLATES[0]]: 0, [ISOLATES[1]]: 0 },
  };
}

function record(t, kind, status, wrong, ctx) {
  t.requests++;
  t.byStatus[status] = (t.byStatus[status] ?? 0) + 1;
  t.byKind[kind] ??= { requests: 0, byStatus: {} };
  const k = t.byKind[kind];
  k.requests++;
  k.byStatus[status] = (k.byStatus[status] ?? 0) + 1;
  if (status >= 500) t.serverErrors++;
  if (wrong) {
    t.wrong++;
    const reason = wrong.replace(/\d+ ms/, "N ms");
    t.wrongByReason[reason] = (t.wrongByReason[reason] ?? 0) + 1;
    if (t.wrongExamples.length < 20)
      t.wrongExamples.push({ at: round(elapsedSec(), 1), kind, status, isolate: ctx.isolate, key: ctx.key?.id, wrong });
  }
}

// ---------------------------------------------------------------------------------------------
/** Management traffic: one operation at a time, through the primary isolate, until `stop()`. */
function managementLoop(client, state, intervalMs) {
  const ops = { create: 0, revoke: 0, "rotate (no grace)": 0, "rotate (grace)": 0, patch: 0, list: 0 };
  const byStatus = {};
  const errors = [];
  let running = true;
  const GRACE_SECONDS = 15;
  const expected = { create: 201, revoke: 200, "rotate (no grace)": 201, "rotate (grace)": 201, patch: 200, list: 200 };
  const change = async (key, op, send, graceMs, expectedStatus) => {
    state.live.remove(key);
    key.changeStartedAt = Date.now();
    const res = await send();
    // A change that was not confirmed leaves the key's state unknown: it leaves the mix.
    if (res.status !== expectedStatus) return res;
    key.changedAt = Date.now();
    key.graceMs = graceMs;
    key.cutoffMs = key.changedAt + graceMs;
    key.state = op === "revoke" ? "revoked" : "rotated";
    state.recent.push(key);
    return res;
  };
  const weighted = chooser([
    { weight: 3, name: "create" },
    { weight: 3, name: "revoke" },
    { weight: 2, name: "rotate (no grace)" },
    { weight: 1, name: "rotate (grace)" },
    { weight: 1, name: "patch" },
    { weight: 1, name: "list" },
  ]);
  const done = (async () => {
    while (running) {
      const op = weighted().name;
      let res;
      try {
        if (op === "create") {
          res = await client.create({ name: `soak-${state.created}`, scopes: ["api:read"], expires_in_days: 30 });
          if (res.status === 201) state.live.add({ id: res.body.id, apiKey: res.body.api_key });
          state.created++;
        } else if (op === "revoke") {
          const key = state.live.random();
          res = await change(key, op, () => client.revoke(key.id, "soak"), 0, expected[op]);
        } else if (op.startsWith("rotate")) {
          const key = state.live.random();
          const graceSeconds = op === "rotate (grace)" ? GRACE_SECONDS : 0;
          res = await change(
            key,
            op,
            () => client.rotate(key.id, { grace_period_seconds: graceSeconds }),
            graceSeconds * 1000,
            expected[op],
          );
          if (res.status === 201) state.live.add({ id: res.body.id, apiKey: res.body.api_key });
        } else if (op === "patch") {
          const key = state.live.random();
          res = await client.patch(key.id, { name: `soak-renamed-${ops.patch}` });
        } else {
          res = await client.list("?limit=50&status=active");
        }
        byStatus[res.status] = (byStatus[res.status] ?? 0) + 1;
        if (res.status !== expected[op] && errors.length < 20)
          errors.push({ at: round(elapsedSec(), 1), op, status: res.status, body: res.body });
        if (res.status !== expected[op]) errors.total = (errors.total ?? 0) + 1;
      } catch (err) {
        errors.total = (errors.total ?? 0) + 1;
        if (errors.length < 20) errors.push({ at: round(elapsedSec(), 1), op, error: String(err?.message ?? err) });
      }
      ops[op]++;
      await sleep(intervalMs);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await done;
    },
    report: () => ({ ops, byStatus, errors: errors.total ?? 0, errorExamples: [...errors] }),
  };
}

/** Moves changed keys whose deadlines have long passed from `recent` to `settled`. */
function settle(state) {
  const now = Date.now();
  const keep = [];
  for (const key of state.recent) {
    if (now > refuseBy(key, ISOLATES[1], state.ttlMs) + RECENT_AFTER_DEADLINE_MS) {
      state.settled.push(key);
      if (state.settled.length > MAX_SETTLED_KEYS) state.settled.shift();
    } else keep.push(key);
  }
  state.recent = keep;
}

/** Tokens signed by the real signing key with an `exp` in the past: "API key has expired". */
async function expiredTokens(jose, signingJwk, vars, n) {
  const key = await jose.importJWK(signingJwk, "RS256");
  const now = Math.floor(Date.now() / 1000);
  const out = [];
  for (let i = 0; i < n; i++) {
    out.push(
      await new jose.SignJWT({ scopes: ["api:read"], key_id: `key-${randomUUID()}`, tenant: TENANT })
        .setProtectedHeader({ alg: "RS256", typ: "JWT", kid: signingJwk.kid })
        .setSubject("soak-user")
        .setIssuer(vars.KEY_ISSUER)
        .setAudience(vars.KEY_AUDIENCE)
        .setIssuedAt(now - 7200 - i)
        .setExpirationTime(now - 3600)
        .setJti(randomBytes(8).toString("hex"))
        .sign(key),
    );
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
async function sample(sessions, workerdPid, t0) {
  const isolates = {};
  for (const [name, { session, nudge }] of Object.entries(sessions)) {
    const heap = await heapAfterGc(session, nudge);
    isolates[name] = { heapUsedBytes: heap.usedBytes, heapTotalBytes: heap.totalBytes, caches: await cacheSizes(session, nudge) };
  }
  return { t: round((Date.now() - t0) / 1000, 1), isolates, workerdRssBytes: rssBytes(workerdPid) };
}

const mib = (b) => (b / 2 ** 20).toFixed(2);

function checks(samples, warmupSec, t, mgmt) {
  const out = [];
  out.push({
    check: "no 5xx and no transport errors",
    pass: t.serverErrors === 0 && t.transportErrors === 0,
    value: `${t.serverErrors} 5xx, ${t.transportErrors} errors/timeouts`,
  });
  out.push({
    check: "no wrong answers",
    pass: t.wrong === 0,
    value:
      t.wrong === 0
        ? "0"
        : `${t.wrong}: ${Object.entries(t.wrongByReason)
            .map(([r, n]) => `${n}x ${r}`)
            .join("; ")}`,
  });
  out.push({
    check: "management answered as expected",
    pass: mgmt.errors === 0,
    value: `${mgmt.errors} unexpected of ${Object.values(mgmt.ops).reduce((a, b) => a + b, 0)}`,
  });
  const after = samples.filter((s) => s.t >= warmupSec);
  for (const name of ISOLATES) {
    const heaps = after.map((s) => s.isolates[name].heapUsedBytes);
    if (heaps.length < 2) {
      out.push({
        check: `${name}: heap after GC flat after warm-up`,
        pass: null,
        value: `only ${heaps.length} sample(s) after ${warmupSec} s warm-up`,
      });
    } else {
      const spread = (Math.max(...heaps) / Math.min(...heaps) - 1) * 100;
      out.push({
        check: `${name}: heap after GC flat after warm-up (<= ${HEAP_FLAT_PCT}%)`,
        pass: spread <= HEAP_FLAT_PCT,
        value: `${spread.toFixed(1)}% (first ${mib(heaps[0])} MiB, last ${mib(heaps.at(-1))} MiB, max ${mib(Math.max(...heaps))} MiB)`,
      });
    }
    const over = [];
    for (const s of samples) {
      for (const [cache, { size, max }] of Object.entries(s.isolates[name].caches ?? {}))
        if (size > max) over.push(`${cache} ${size}/${max} at ${s.t} s`);
    }
    const hasCaches = samples.some((s) => s.isolates[name].caches);
    out.push({
      check: `${name}: every cache within its bound`,
      pass: hasCaches ? over.length === 0 : null,
      value: hasCaches ? (over.length ? over.slice(0, 3).join("; ") : "yes, in every sample") : "the worker exposes no cache sizes",
    });
  }
  return out;
}

async function main() {
  mkdirSync(OUT, { recursive: true });
  const [jose, miniflare] = await Promise.all([import("jose"), import("miniflare"), loadAutocannon()]);
  const { newDevKeyMaterial } = await import("../scripts/lib/keys.mjs");
  log(`config: ${JSON.stringify(CONFIG)}`);

  log("bundling with `wrangler deploy --dry-run`...");
  const [built, config] = await Promise.all([bundle(), readWranglerConfig()]);
  const origin = await startOrigin();
  const material = newDevKeyMaterial();
  const vars = { ...config.vars, ...CONFIG.varOverrides };
  const workerd = await startWorkerd({
    miniflare,
    bundleMain: built.main,
    config,
    secrets: { SIGNING_KEYS: material.SIGNING_KEYS, USER_TOKEN_JWKS: material.USER_TOKEN_JWKS },
    originUrl: origin.url,
    keygates: ISOLATES.map((name) => ({ name, vars: { ...BENCH_VARS } })),
    varOverrides: CONFIG.varOverrides,
    passthrough: false,
    inspector: true,
  });
  log(
    `workerd (pid ${workerd.pid}): ${Object.entries(workerd.urls)
      .map(([n, u]) => `${n} ${u}`)
      .join(", ")}; origin ${origin.url}`,
  );
  await applyMigrations(workerd.mf, config.migrations, PRIMARY);

  // Inspector sessions; a health request wakes an idle isolate for commands workerd defers.
  const sessions = {};
  for (const name of ISOLATES) {
    const nudge = () => fetch(`${workerd.urls[name]}/_keygate/health`).then((r) => r.arrayBuffer());
    sessions[name] = { session: await devtools(workerd.mf, name), nudge };
  }
  onCleanup(() => {
    for (const s of Object.values(sessions)) s.session.close();
  });
  const bounds = await cacheSizes(sessions[PRIMARY].session, sessions[PRIMARY].nudge);
  const poolSize = CONFIG.keys ?? (bounds?.["verified-keys"] ? Math.ceil(bounds["verified-keys"].max * 1.05) : FALLBACK_POOL);
  log(
    `caches: ${
      bounds
        ? Object.entries(bounds)
            .map(([n, c]) => `${n} (max ${c.max})`)
            .join(", ")
        : "none exposed"
    }`,
  );

  const client = managementClient(workerd.urls[PRIMARY], await userToken(jose, config, material.idpPrivateJwk, TENANT), TENANT);
  log(`creating ${poolSize} keys (more than the verification cache holds), ${CONFIG.createConcurrency} at a time...`);
  const bodies = Array.from({ length: poolSize }, (_, i) => ({ name: `soak-pool-${i}`, scopes: ["api:read"], expires_in_days: 30 }));
  const created = await createKeys(client, bodies, {
    sequential: 0,
    concurrency: CONFIG.createConcurrency,
    onProgress: (done, of) => log(`  ${done}/${of}`),
  });
  log(`created ${poolSize} keys in ${(created.concurrent.totalMs / 1000).toFixed(1)} s (${created.concurrent.perSec}/s)`);

  // Every pool key once through each isolate, so that the caches start at their steady state
  // (a key not yet seen is not a leak) and the warm-up only has to fill the refusal caches.
  const primedSec = {};
  for (const isolate of ISOLATES) {
    let next = 0;
    const spec = {
      url: workerd.urls[isolate],
      method: "GET",
      path: "/api/v1/resources/prime",
      headers: {},
      perRequest: () => ({ authorization: `Bearer ${created.keys[next++ % poolSize].apiKey}` }),
    };
    const p = await prime(spec, poolSize, CONFIG.connections * 4);
    if (p.errors || Object.keys(p.statusCodes).some((code) => code !== "200")) {
      throw new Error(`priming ${isolate}: ${JSON.stringify(p.statusCodes)}, ${p.errors} errors`);
    }
    primedSec[isolate] = round(p.durationSec, 1);
    log(`primed ${isolate}: ${poolSize} keys once each in ${p.durationSec.toFixed(1)} s`);
  }

  const state = {
    live: new KeyPool(),
    recent: [],
    settled: [],
    limited: [],
    created: 0,
    ttlMs: Number(vars.REVOCATION_CACHE_TTL_SECONDS ?? 10) * 1000,
    forge: forgedTokenFactory(created.keys[0].apiKey),
    expired: await expiredTokens(jose, JSON.parse(material.SIGNING_KEYS).keys[0], vars, EXPIRED_TOKENS),
    startedAt: Date.now(),
  };
  for (const k of created.keys) state.live.add(k);
  if (TRAFFIC.some((t) => t.kind === "rate-limited")) {
    for (let i = 0; i < LIMITED_KEYS; i++) {
      const res = await client.create({ name: `soak-limited-${i}`, scopes: ["api:read"], expires_in_days: 30, rate_limits: [LIMIT] });
      if (res.status !== 201) throw new Error(`creating a rate-limited key: ${res.status} ${JSON.stringify(res.body)}`);
      state.limited.push({ id: res.body.id, apiKey: res.body.api_key, limit: LIMIT.limit, windowSeconds: LIMIT.window_seconds });
    }
  }

  // Traffic: one autocannon per isolate, half the rate each, for the whole soak.
  const t = tally();
  t.transportErrors = 0;
  const choose = chooser(TRAFFIC);
  const drive = (isolate) =>
    cannon(
      {
        url: workerd.urls[isolate],
        connections: CONFIG.connections,
        overallRate: Math.max(1, Math.round(CONFIG.rate / ISOLATES.length)),
        duration: CONFIG.durationSec,
        requests: [
          {
            method: "GET",
            path: "/",
            setupRequest: (req, context) => {
              const kind = choose();
              const r = kind.request(state);
              context.kind = kind;
              context.key = r.key;
              context.isolate = isolate;
              context.sentAt = Date.now();
              return { ...req, method: r.method, path: r.path, headers: r.headers };
            },
            onResponse: (status, _body, context) => {
              const ctx = { ...context, answeredAt: Date.now() };
              const wrong = status >= 500 ? null : ctx.kind.judge(status, ctx, state);
              record(t, ctx.kind.kind, status, wrong, ctx);
            },
          },
        ],
      },
      {},
    );
  // How long after a key's cut-off (the revoke, or the end of a rotation's grace) it was still accepted.
  state.noteAcceptedAfterChange = (ctx, key) => {
    const lag = ctx.sentAt - key.cutoffMs;
    if (lag > 0) {
      t.acceptedAfterChange[ctx.isolate]++;
      t.maxAcceptedLagMs[ctx.isolate] = Math.max(t.maxAcceptedLagMs[ctx.isolate], lag);
    }
  };

  const t0 = Date.now();
  state.startedAt = t0;
  log(
    `soak: ${CONFIG.durationSec} s at up to ${CONFIG.rate} req/s over ${ISOLATES.join(" + ")}, management every ${CONFIG.mgmtIntervalMs} ms`,
  );
  const samples = [await sample(sessions, workerd.pid, t0)];
  const printSample = (s) => {
    const parts = ISOLATES.map((n) => {
      const i = s.isolates[n];
      const caches = i.caches
        ? Object.entries(i.caches)
            .map(([c, v]) => `${c} ${v.size}/${v.max}`)
            .join(" ")
        : "";
      return `${n} heap ${mib(i.heapUsedBytes)} MiB [${caches}]`;
    });
    log(
      `t=${String(s.t).padStart(5)} s  requests ${t.requests}  5xx ${t.serverErrors}  wrong ${t.wrong}  ${parts.join("  ")}  workerd RSS ${mib(s.workerdRssBytes)} MiB`,
    );
  };
  printSample(samples[0]);
  const mgmt = managementLoop(client, state, CONFIG.mgmtIntervalMs);
  const loads = ISOLATES.map(drive);
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const next = t0 + samples.length * CONFIG.sampleSec * 1000;
      while (sampling && Date.now() < next) await sleep(Math.min(500, next - Date.now()));
      if (!sampling || isInterrupted()) break;
      settle(state);
      const s = await sample(sessions, workerd.pid, t0);
      samples.push(s);
      printSample(s);
    }
  })();
  const results = await Promise.all(loads);
  sampling = false;
  await sampler;
  await mgmt.stop();
  t.transportErrors = results.reduce((a, r) => a + r.errors + r.timeouts, 0);
  const soakSec = (Date.now() - t0) / 1000;
  // The last sample measures what stays, not what is in flight: the load's final usage flushes and
  // the queue consumer's last batches (up to 100 messages of 96 KB each) are still being rolled up
  // right after the load stops, and a forced collection cannot free them.
  await sleep(SETTLE_BEFORE_LAST_SAMPLE_MS);
  const last = await sample(sessions, workerd.pid, t0);
  samples.push(last);
  printSample(last);

  const management = mgmt.report();
  const judged = checks(samples, CONFIG.warmupSec, t, management);
  const pass = judged.every((c) => c.pass !== false);

  // Report.
  console.log(
    `\nkeygate soak — ${round(soakSec, 0)} s, ${t.requests} requests (${Math.round(t.requests / soakSec)}/s) over 2 isolates, ${poolSize} pool keys`,
  );
  console.log(
    table(
      Object.entries(t.byKind).map(([kind, k]) => ({ kind, ...k })),
      [
        { title: "traffic", get: (r) => r.kind, left: true },
        { title: "requests", get: (r) => r.requests },
        { title: "by status", get: (r) => JSON.stringify(r.byStatus), left: true },
      ],
    ),
  );
  console.log(`\nall requests by status: ${JSON.stringify(t.byStatus)}`);
  console.log(
    `management: ${JSON.stringify(management.ops)}; by status ${JSON.stringify(management.byStatus)}; ${state.created} created during the soak`,
  );
  console.log(
    `revocation propagation: requests accepted after a key's cut-off ${JSON.stringify(t.acceptedAfterChange)}, ` +
      `the latest ${JSON.stringify(t.maxAcceptedLagMs)} ms after it (bound: immediate on ${PRIMARY}, ${state.ttlMs / 1000} s on ${ISOLATES[1]}, each + ${SLACK_MS / 1000} s)`,
  );
  const heapRow = (name) => {
    const hs = samples.map((s) => s.isolates[name].heapUsedBytes);
    return `${name}: heap after GC first ${mib(hs[0])} MiB, last ${mib(hs.at(-1))} MiB, max ${mib(Math.max(...hs))} MiB`;
  };
  for (const name of ISOLATES) console.log(heapRow(name));
  const rss = samples.map((s) => s.workerdRssBytes);
  console.log(
    `workerd RSS (reference: mostly the runtime): first ${mib(rss[0])} MiB, last ${mib(rss.at(-1))} MiB, max ${mib(Math.max(...rss))} MiB`,
  );
  for (const name of ISOLATES) {
    if (last.isolates[name].caches)
      console.log(
        `${name} caches at the end: ${Object.entries(last.isolates[name].caches)
          .map(([c, v]) => `${c} ${v.size}/${v.max}`)
          .join(", ")}`,
      );
  }
  if (t.wrongExamples.length) {
    console.log("\nwrong answers (first ones):");
    for (const w of t.wrongExamples.slice(0, 10)) console.log(`  ${JSON.stringify(w)}`);
  }
  if (management.errorExamples.length) {
    console.log("\nunexpected management answers (first ones):");
    for (const e of management.errorExamples.slice(0, 10)) console.log(`  ${JSON.stringify(e)}`);
  }
  if (workerd.workerdOut.size > 0) {
    console.log("\nworkerd logged (distinct lines, count):");
    for (const [line, n] of [...workerd.workerdOut].sort((a, b) => b[1] - a[1]).slice(0, 8))
      console.log(`  ${String(n).padStart(6)}  ${line.slice(0, 220)}`);
  }
  console.log("");
  console.log(
    table(judged, [
      { title: "check", get: (c) => c.check, left: true },
      { title: "value", get: (c) => c.value, left: true },
      { title: "result", get: (c) => (c.pass === null ? "n/a" : c.pass ? "PASS" : "FAIL"), left: true },
    ]),
  );
  console.log(`\nsoak: ${pass ? "PASS" : "FAIL"}`);

  const machine = {
    cpuModel: os.cpus()[0]?.model ?? "unknown",
    cpuCount: os.cpus().length,
    node: process.version,
    ...toolVersions(),
    loadavg: os.loadavg().map((x) => round(x, 2)),
    date: new Date().toISOString(),
  };
  const out = {
    machine,
    config: {
      ...CONFIG,
      poolKeys: poolSize,
      isolates: ISOLATES,
      revocationCacheTtlSeconds: state.ttlMs / 1000,
      traffic: TRAFFIC.map((k) => ({ kind: k.kind, weight: k.weight })),
    },
    setup: {
      createdKeys: poolSize,
      createSec: round(created.concurrent.totalMs / 1000, 1),
      createsPerSec: created.concurrent.perSec,
      primedSec,
    },
    soakSec: round(soakSec, 1),
    requests: { total: t.requests, perSec: round(t.requests / soakSec, 0), byStatus: t.byStatus, byKind: t.byKind },
    errors: { serverErrors: t.serverErrors, transportErrors: t.transportErrors },
    wrongAnswers: { total: t.wrong, byReason: t.wrongByReason, examples: t.wrongExamples },
    revocationPropagation: {
      acceptedAfterChange: t.acceptedAfterChange,
      maxAcceptedLagMs: t.maxAcceptedLagMs,
      boundMs: { [PRIMARY]: SLACK_MS, [ISOLATES[1]]: state.ttlMs + SLACK_MS },
    },
    management: { ...management, createdDuringSoak: state.created },
    samples,
    checks: judged,
    pass,
    workerdOutput: Object.fromEntries(workerd.workerdOut),
  };
  const custom = CONFIG.durationSec !== DEFAULT_SECONDS || argv.var.length > 0 || argv.keys !== undefined || argv.rate !== "2000";
  const outFile = argv.out ?? path.join(custom ? OUT : BENCH, "soak-results.json");
  writeFileSync(outFile, `${JSON.stringify(out, null, 2)}\n`);
  log(`wrote ${path.relative(ROOT, outFile)}`);
  return pass ? 0 : 1;
}

runMain(main);
