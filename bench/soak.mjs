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
//
// The jobs live in bench/soak/: traffic.mjs (gateway traffic kinds and how each answer is judged),
// management.mjs (the management loop), keys.mjs (key states), checks.mjs (samples and PASS/FAIL),
// report.mjs (the summary printed and soak-results.json).
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { bundle, readWranglerConfig } from "./lib/bundle.mjs";
import { positiveNumber, printUsageAndExit, varOverrides } from "./lib/cli.mjs";
import { cacheSizes, devtools } from "./lib/inspector.mjs";
import { installSignalHandlers, isInterrupted, log, onCleanup, runMain, sleep, startWatchdog } from "./lib/lifecycle.mjs";
import { cannon, loadAutocannon, prime } from "./lib/load.mjs";
import { createKeys, forgedTokenFactory, managementClient, userToken } from "./lib/management.mjs";
import { BENCH, OUT, ROOT, startOrigin } from "./lib/processes.mjs";
import { round } from "./lib/stats.mjs";
import { applyMigrations, startWorkerd } from "./lib/workerd.mjs";
import { BENCH_VARS } from "./scenarios.mjs";
import { checks, mib, sample } from "./soak/checks.mjs";
import { ISOLATES, PRIMARY, TENANT } from "./soak/constants.mjs";
import { expiredTokens, KeyPool, settle } from "./soak/keys.mjs";
import { managementLoop } from "./soak/management.mjs";
import { printReport, resultsDocument } from "./soak/report.mjs";
import { chooser, LIMIT, LIMITED_KEYS, record, TRAFFIC, tally } from "./soak/traffic.mjs";

installSignalHandlers();

/** Quiet time between the end of the load and the last sample. */
const SETTLE_BEFORE_LAST_SAMPLE_MS = 10_000;
const EXPIRED_TOKENS = 200;
const DEFAULT_SECONDS = 600;
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

  printReport({ t, soakSec, poolSize, management, state, samples, last, workerd, judged, pass });

  const out = resultsDocument({ CONFIG, poolSize, state, created, primedSec, soakSec, t, management, samples, judged, pass, workerd });
  const custom = CONFIG.durationSec !== DEFAULT_SECONDS || argv.var.length > 0 || argv.keys !== undefined || argv.rate !== "2000";
  const outFile = argv.out ?? path.join(custom ? OUT : BENCH, "soak-results.json");
  writeFileSync(outFile, `${JSON.stringify(out, null, 2)}\n`);
  log(`wrote ${path.relative(ROOT, outFile)}`);
  return pass ? 0 : 1;
}

runMain(main);
