#!/usr/bin/env node
// `npm run bench`: keygate's data-plane cost inside workerd.
//
// 1. Bundles the worker as production does (`wrangler deploy --dry-run`) and records its size.
// 2. Runs the bundle in workerd through miniflare's Node API (local D1 + KV and whatever else
//    wrangler.toml declares), next to a pass-through proxy worker (the baseline), each on its own
//    127.0.0.1 socket; scenarios that ask for their own keygate worker (own isolate, own vars) get one.
// 3. Starts a tiny Node origin (own process) answering {"ok":true}.
// 4. Creates the keys the scenarios name through the management API (the first ones sequentially
//    and timed: (h); the rest concurrently), then revokes/spends what the key sets say.
// 5. Load-tests each scenario (bench/scenarios.mjs) with autocannon in alternating order over rounds.
// 6. Prints a table and each scenario's targets, and writes bench/results.json.
//
//   npm run bench [-- --rounds 3 --duration 5 --warmup 1 --connections 50 --keys 1000 --many-keys 10000]
//   npm run bench -- --quick        smoke run (1 round of 2 s, 100 keys, 1,000 in rotation for (i))
//   npm run bench -- --list         the scenarios, and which are disabled and why
//   npm run bench -- --only b,c     run a subset of scenarios ((b) is always kept: it is the baseline)
//   npm run bench -- --enable j,k   run entries that wait for a worker feature (see FEATURES)
//   npm run bench -- --entry        also measure keygate through miniflare's entry socket (c')
//   npm run bench -- --strip-hop    keep miniflare's CF-Connecting-IP-stripping outbound worker
//   npm run bench -- --var NAME=VALUE   override a var of every keygate worker (e.g. REVOCATION_CACHE_TTL_SECONDS=1)
//   npm run bench -- --create-concurrency 16   concurrent creates after the timed sequential ones
//   npm run bench -- --profile      CPU-profile keygate in workerd instead of the load table
//   npm run bench -- --unseen-keys 40000   keys minted for (p), each sent once (a run that sends more reuses them)
//   npm run bench -- --cold-starts 10      workerd restarts for (q), the first request of a fresh isolate (0: none)
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { bundle, readWranglerConfig } from "./lib/bundle.mjs";
import { positiveNumber, printUsageAndExit, toolVersions, varOverrides } from "./lib/cli.mjs";
import { measureColdStarts } from "./lib/cold-start.mjs";
import { measureConsumer } from "./lib/consumer.mjs";
import { isolateCounters } from "./lib/inspector.mjs";
import { elapsedSec, installSignalHandlers, isInterrupted, log, runMain, sleep, startWatchdog } from "./lib/lifecycle.mjs";
import { cannon, loadAutocannon, measure, prime, sanity } from "./lib/load.mjs";
import { createKeys, forgedTokenFactory, managementClient, mintKeys, tamperSignature, userToken } from "./lib/management.mjs";
import { BENCH, OUT, ROOT, startOrigin } from "./lib/processes.mjs";
import { doCallsLine, ioLine, judge, scenarioTable, summarize, targetTable } from "./lib/report.mjs";
import { round } from "./lib/stats.mjs";
import { applyMigrations, startWorkerd } from "./lib/workerd.mjs";
import { BENCH_VARS, KEY_SETS, PROTECTED_PATH, SCENARIOS, SCOPED_PATH, TENANT } from "./scenarios.mjs";

installSignalHandlers();

/** The keygate worker the management API, (c)-(g) and the entry socket use. */
const PRIMARY = "keygate";
// The default run must stay under 5 minutes on 2 cores; bigger custom runs get proportionally more.
const DEFAULT_BUDGET_MS = 330_000;

const { values: argv } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    duration: { type: "string", default: "5" },
    warmup: { type: "string", default: "1" },
    connections: { type: "string", default: "50" },
    keys: { type: "string", default: "1000" },
    "many-keys": { type: "string", default: "10000" },
    "create-concurrency": { type: "string", default: "16" },
    "unseen-keys": { type: "string", default: "40000" },
    "cold-starts": { type: "string", default: "10" },
    quick: { type: "boolean", default: false },
    entry: { type: "boolean", default: false },
    "strip-hop": { type: "boolean", default: false },
    var: { type: "string", multiple: true, default: [] },
    only: { type: "string" },
    enable: { type: "string" },
    list: { type: "boolean", default: false },
    profile: { type: "boolean", default: false },
    "profile-seconds": { type: "string", default: "4" },
    // Default: bench/results.json; smoke, subset and override runs go to bench/out/results.json.
    out: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});
if (argv.help) printUsageAndExit(import.meta.filename);
const ids = (list) => (list ? list.split(",").map((x) => x.trim()) : []);
const CONFIG = {
  rounds: argv.quick ? 1 : Math.round(positiveNumber("rounds", argv.rounds)),
  durationSec: argv.quick ? 2 : positiveNumber("duration", argv.duration),
  warmupSec: argv.quick ? 1 : positiveNumber("warmup", argv.warmup),
  connections: Math.round(positiveNumber("connections", argv.connections)),
  keys: argv.quick ? 100 : Math.round(positiveNumber("keys", argv.keys)),
  manyKeys: argv.quick ? 1000 : Math.round(positiveNumber("many-keys", argv["many-keys"])),
  createConcurrency: Math.round(positiveNumber("create-concurrency", argv["create-concurrency"])),
  unseenKeys: argv.quick ? 4000 : Math.round(positiveNumber("unseen-keys", argv["unseen-keys"])),
  coldStarts: argv.quick ? 3 : Math.round(Number(argv["cold-starts"])),
  entrySocket: argv.entry,
  // miniflare by default sends every outbound fetch through an extra JS worker that strips
  // CF-Connecting-IP (production does that natively). Off by default; --strip-hop turns it on.
  miniflareStripHop: argv["strip-hop"],
  varOverrides: varOverrides(argv.var),
  profile: argv.profile,
  profileSec: positiveNumber("profile-seconds", argv["profile-seconds"]),
  // (q) is no load scenario: it runs after the rounds unless --only leaves it out.
  only: argv.only ? [...new Set(["b", ...ids(argv.only).filter((id) => id !== "q")])] : null,
  coldStartRow: !argv.only || ids(argv.only).includes("q"),
  enable: ids(argv.enable),
};

// ---------------------------------------------------------------------------------------------
// Which scenarios run.
const nameOf = (s) => (typeof s.name === "function" ? s.name(CONFIG) : s.name);
const countOf = (s) => (typeof s.keys.count === "function" ? s.keys.count(CONFIG) : s.keys.count);
function isEnabled(s) {
  if (CONFIG.enable.includes(s.id)) return true;
  return typeof s.enabled === "function" ? s.enabled(CONFIG) : s.enabled !== false;
}
for (const id of [...(CONFIG.only ?? []), ...CONFIG.enable]) {
  if (!SCENARIOS.some((s) => s.id === id)) throw new Error(`no scenario (${id}); see --list`);
}
const selected = SCENARIOS.filter((s) => isEnabled(s) && (!CONFIG.only || CONFIG.only.includes(s.id)));
const skipped = SCENARIOS.filter((s) => !isEnabled(s)).map((s) => ({ id: s.id, name: nameOf(s), needs: s.needs ?? "" }));
for (const id of CONFIG.only ?? []) {
  const s = skipped.find((x) => x.id === id);
  if (s) throw new Error(`(${id}) is disabled until the worker has ${s.needs}; add --enable ${id} to run it anyway`);
}
if (argv.list) {
  for (const s of SCENARIOS) {
    const state = isEnabled(s) ? "" : `  [disabled: needs ${s.needs}]`;
    const worker = s.worker ? `  own worker ${s.worker.name} ${JSON.stringify(s.worker.vars)}` : "";
    console.log(`(${s.id}) ${nameOf(s)}  via ${s.via}${worker}${state}`);
  }
  process.exit(0);
}

/** Keygate workers the selected scenarios need: the primary, then each distinct own worker. */
function keygateWorkers() {
  const workers = [{ name: PRIMARY, vars: { ...BENCH_VARS } }];
  for (const s of selected) {
    if (!s.worker) continue;
    const known = workers.find((w) => w.name === s.worker.name);
    const vars = { ...BENCH_VARS, ...s.worker.vars };
    if (!known) workers.push({ name: s.worker.name, vars });
    else if (JSON.stringify(known.vars) !== JSON.stringify(vars))
      throw new Error(`worker ${s.worker.name} is declared with different vars`);
  }
  return workers;
}

/** How many keys of each set the selected scenarios use, in KEY_SETS order. */
function keyCounts() {
  const counts = {};
  for (const set of Object.keys(KEY_SETS)) {
    const n = Math.max(0, ...selected.filter((s) => s.keys.set === set).map(countOf));
    if (n > 0) counts[set] = n;
  }
  for (const s of selected) if (!KEY_SETS[s.keys.set]) throw new Error(`(${s.id}) names an unknown key set ${s.keys.set}`);
  return counts;
}

// The run's time budget: the plan, with half again as much slack (and never under the default).
const counts = keyCounts();
const totalKeys = Object.values(counts).reduce((a, b) => a + b, 0);
const perRunSec = CONFIG.warmupSec + CONFIG.durationSec + 0.6;
const primedKeys = selected.filter((s) => s.prime).reduce((a, s) => a + countOf(s), 0);
// Creates and priming as measured on a shared 2-core machine: ~100 creates/s, ~200 primed keys/s.
const plannedSec =
  45 +
  selected.length * (CONFIG.profile ? 1 : CONFIG.rounds) * perRunSec +
  (CONFIG.keys + 1) * 0.02 +
  totalKeys * 0.01 +
  primedKeys * 0.005;
startWatchdog(Math.max(DEFAULT_BUDGET_MS, plannedSec * 1500), "bench");

// ---------------------------------------------------------------------------------------------
/** A scenario entry resolved into what the load generator and the report need. */
function resolve(s, ctx, workerd, origin) {
  const worker = s.via === "passthrough" ? "passthrough" : s.via === "origin" ? null : (s.worker?.name ?? PRIMARY);
  const url = s.via === "origin" ? origin.url : s.via === "entry" ? workerd.entry : workerd.urls[worker];
  const statuses = [s.expect.status].flat();
  return {
    id: s.id,
    name: nameOf(s),
    via: s.via,
    worker,
    url,
    method: s.method ?? "GET",
    path: s.path,
    headers: { ...(s.token ? { authorization: `Bearer ${s.token(ctx)}` } : {}), ...(s.headers ?? {}) },
    perRequest: s.perRequest?.(ctx),
    prime: s.prime ? countOf(s) : 0,
    expect: { statuses, origin: s.expect.origin },
    targets: s.targets ?? [],
    // Durable Object round trips are read from the isolate's counters through the inspector.
    counters:
      worker !== null && worker !== "passthrough" && !CONFIG.profile
        ? () => isolateCounters(workerd.mf, worker, () => fetch(`${url}/_keygate/health`).then((r) => r.arrayBuffer()))
        : undefined,
  };
}

async function main() {
  mkdirSync(OUT, { recursive: true });
  const [jose, miniflare] = await Promise.all([import("jose"), import("miniflare"), loadAutocannon()]);
  const { newDevKeyMaterial } = await import("../scripts/lib/keys.mjs");
  log(`config: ${JSON.stringify(CONFIG)}`);
  if (skipped.length) log(`disabled: ${skipped.map((s) => `(${s.id}) needs ${s.needs}`).join("; ")}`);

  log("bundling with `wrangler deploy --dry-run`...");
  const [built, config] = await Promise.all([bundle({ keepAs: CONFIG.profile ? "profile-bundle" : undefined }), readWranglerConfig()]);
  log(
    `bundle: ${(built.rawBytes / 1024).toFixed(1)} KiB raw, ${(built.gzipBytes / 1024).toFixed(1)} KiB gzip (${built.buildMs.toFixed(0)} ms)`,
  );

  const origin = await startOrigin();
  log(`origin on ${origin.url} (pid ${origin.pid})`);

  const material = newDevKeyMaterial();
  const secrets = { SIGNING_KEYS: material.SIGNING_KEYS, USER_TOKEN_JWKS: material.USER_TOKEN_JWKS };
  const workers = keygateWorkers();
  const workerd = await startWorkerd({
    miniflare,
    bundleMain: built.main,
    config,
    secrets,
    originUrl: origin.url,
    keygates: workers,
    varOverrides: CONFIG.varOverrides,
    // The inspector also reads each isolate's counters (Durable Object round trips) between runs.
    inspector: true,
    stripHop: CONFIG.miniflareStripHop,
    // The usage queue's consumer is measured on its own below, not as the gateway's CPU.
    consumeQueues: false,
  });
  log(
    `workerd: ${Object.entries(workerd.urls)
      .map(([name, url]) => `${name} ${url}`)
      .join(", ")}, miniflare entry ${workerd.entry}`,
  );
  const pids = { workerd: workerd.pid, origin: origin.pid };
  if (pids.workerd === undefined) log("warning: workerd process not found; no CPU-per-request numbers");
  const migrations = await applyMigrations(workerd.mf, config.migrations, PRIMARY);
  log(`applied migrations: ${migrations.join(", ")}`);

  // Keys: the first CONFIG.keys + 1 one after the other (timed: (h)), the rest concurrently.
  const client = managementClient(workerd.urls[PRIMARY], await userToken(jose, config, material.idpPrivateJwk, TENANT), TENANT);
  const bodies = Object.entries(counts).flatMap(([set, n]) =>
    Array.from({ length: n }, (_, i) => ({ set, body: KEY_SETS[set].create(i) })),
  );
  const sequential = Math.min(bodies.length, CONFIG.keys + 1);
  log(
    `creating ${bodies.length} keys (${JSON.stringify(counts)}): ${sequential} sequentially, the rest ${CONFIG.createConcurrency} at a time...`,
  );
  const created = await createKeys(
    client,
    bodies.map((b) => b.body),
    { sequential, concurrency: CONFIG.createConcurrency, onProgress: (done, of) => log(`  ${done}/${of} concurrent creates`) },
  );
  const keys = {};
  created.keys.forEach((k, i) => {
    keys[bodies[i].set] ??= [];
    keys[bodies[i].set].push(k);
  });
  const management = { create: created.sequential, createConcurrent: created.concurrent };
  for (const [set, list] of Object.entries(keys)) {
    const after = await KEY_SETS[set].after?.({ keys: list, client, urls: workerd.urls });
    if (after?.revokeMs !== undefined) management.revokeMs = round(after.revokeMs, 3);
  }
  const seq = created.sequential;
  const con = created.concurrent;
  log(
    `creates: ${seq.count} sequential p50 ${seq.p50Ms} ms, p99 ${seq.p99Ms} ms` +
      (con ? `; ${con.count} concurrent in ${(con.totalMs / 1000).toFixed(1)} s (${con.perSec}/s)` : "") +
      (management.revokeMs !== undefined ? `; revoke ${management.revokeMs} ms` : ""),
  );

  const template = keys.pool?.[0]?.apiKey;
  const unseenCount = selected.some((s) => s.id === "p") ? CONFIG.unseenKeys : 0;
  const mintStarted = Date.now();
  const unseen = mintKeys(material.SIGNING_KEYS, config.vars, TENANT, unseenCount + 2 * Math.max(0, CONFIG.coldStarts));
  if (unseen.length > 0) log(`minted ${unseen.length} keys no isolate has seen in ${((Date.now() - mintStarted) / 1000).toFixed(1)} s`);
  const coldTokens = unseen.splice(unseenCount);
  const ctx = { cfg: CONFIG, keys, unseen, tamper: tamperSignature, forge: template ? forgedTokenFactory(template) : undefined };
  const specs = selected.map((s) => resolve(s, ctx, workerd, origin));

  const primed = {};
  for (const spec of specs.filter((s) => s.prime > 0)) {
    log(`(${spec.id}) priming: each of ${spec.prime} keys once...`);
    const p = await prime(spec, spec.prime, CONFIG.connections);
    primed[spec.id] = { ...p, durationSec: round(p.durationSec, 2) };
    const unexpected = Object.keys(p.statusCodes).filter((code) => !spec.expect.statuses.includes(Number(code)));
    if (unexpected.length || p.errors) throw new Error(`priming (${spec.id}) got ${JSON.stringify(p.statusCodes)}, ${p.errors} errors`);
    log(`(${spec.id}) primed ${p.requests} requests in ${p.durationSec.toFixed(1)} s`);
  }

  const sanityResults = {};
  for (const spec of specs) sanityResults[spec.id] = await sanity(spec);
  log("sanity checks passed (expected status from every scenario)");

  const machine = {
    cpuModel: os.cpus()[0]?.model ?? "unknown",
    cpuCount: os.cpus().length,
    availableParallelism: os.availableParallelism?.() ?? os.cpus().length,
    totalMemMiB: Math.round(os.totalmem() / 2 ** 20),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    ...toolVersions(),
    date: new Date().toISOString(),
  };

  if (CONFIG.profile) {
    const { profileScenarios } = await import("./profile.mjs");
    const profiles = await profileScenarios({
      mf: workerd.mf,
      scenarios: specs.filter((s) => s.worker !== null && s.via !== "entry"),
      seconds: CONFIG.profileSec,
      connections: CONFIG.connections,
      cannon,
      outDir: OUT,
      bundleMain: built.main,
      log,
    });
    writeFileSync(path.join(OUT, "profile-summary.json"), `${JSON.stringify({ machine, config: CONFIG, profiles }, null, 2)}\n`);
    log(`profiles written to ${path.relative(ROOT, OUT)}/ (open *.cpuprofile in Chrome DevTools > Performance)`);
    return;
  }

  const perRun = CONFIG.warmupSec + CONFIG.durationSec + 0.3;
  const estimate = elapsedSec() + specs.length * CONFIG.rounds * perRun;
  log(`running ${specs.length} scenarios x ${CONFIG.rounds} rounds (~${Math.ceil(estimate)} s total)`);

  const rounds = [];
  for (let r = 1; r <= CONFIG.rounds; r++) {
    const order = r % 2 === 1 ? specs : [...specs].reverse();
    for (const spec of order) {
      if (isInterrupted()) throw new Error("interrupted");
      const m = await measure(spec, {
        origin,
        pids,
        roundNo: r,
        warmupSec: CONFIG.warmupSec,
        durationSec: CONFIG.durationSec,
        connections: CONFIG.connections,
      });
      rounds.push({ scenario: spec.id, ...m });
      log(
        `round ${r} (${spec.id}) ${spec.name.padEnd(30)} ${m.rps.toFixed(0).padStart(6)} req/s  p50 ${m.p50.toFixed(2)} ms  p99 ${m.p99.toFixed(2)} ms  non2xx ${m.non2xx}  origin ${m.originHits}  workerd ${m.workerdUsPerReq.toFixed(0)} us/req  foreign CPU ${m.foreignCpuPct.toFixed(0)}%`,
      );
      await sleep(200);
    }
  }

  // The usage queue's consumer, in a workerd of its own, after the gateway scenarios.
  await workerd.mf.dispose();
  let coldStarts = null;
  if (CONFIG.coldStartRow && CONFIG.coldStarts > 0) {
    log(`(q) the first request of a fresh isolate: ${CONFIG.coldStarts} workerd starts...`);
    coldStarts = await measureColdStarts({
      miniflare,
      bundleMain: built.main,
      config,
      secrets,
      originUrl: origin.url,
      starts: CONFIG.coldStarts,
      tokens: coldTokens,
      path: PROTECTED_PATH,
      log,
    });
  }
  log("measuring the usage queue consumer...");
  const consumer = await measureConsumer({
    miniflare,
    bundleMain: built.main,
    config,
    secrets,
    originUrl: origin.url,
    messages: argv.quick ? 40 : 200,
    manyKeys: 10_000,
  });

  const summary = summarize(specs, rounds);
  const targets = judge(specs, summary);
  console.log(
    `\nkeygate bench — ${machine.cpuModel} x${machine.cpuCount}, node ${machine.node}, workerd via miniflare ${machine.miniflare}`,
  );
  console.log(
    `bundle ${(built.rawBytes / 1024).toFixed(1)} KiB raw / ${(built.gzipBytes / 1024).toFixed(1)} KiB gzip; ` +
      `${CONFIG.rounds} rounds x ${CONFIG.durationSec} s, ${CONFIG.connections} connections, ${CONFIG.warmupSec} s warm-up\n`,
  );
  console.log(scenarioTable(specs, summary));
  console.log(
    `\n(h) management create: ${seq.count} sequential, p50 ${seq.p50Ms} ms, p99 ${seq.p99Ms} ms, max ${seq.maxMs} ms` +
      (management.revokeMs !== undefined ? `; revoke ${management.revokeMs.toFixed(1)} ms` : ""),
  );
  if (con) {
    console.log(
      `    then ${con.count} concurrent (${con.concurrency} at a time): ${con.perSec} creates/s, ${(con.totalMs / 1000).toFixed(1)} s, p50 ${con.p50Ms} ms, p99 ${con.p99Ms} ms`,
    );
  }
  for (const [id, p] of Object.entries(primed))
    console.log(`    (${id}) primed: ${p.requests} keys verified once in ${p.durationSec} s before round 1`);
  console.log(doCallsLine(specs, summary));
  console.log(ioLine(specs, summary));
  const pSpec = specs.find((s) => s.id === "p");
  if (pSpec && summary.p) {
    // Warm-ups and the sanity check sent some too: the rotation wraps once they are all spent.
    const sent = summary.p.responses;
    console.log(
      `(p) ${unseenCount.toLocaleString("en-US")} minted keys for ${sent.toLocaleString("en-US")} measured requests${sent > unseenCount ? " (some keys were sent more than once)" : ""}`,
    );
  }
  if (coldStarts) {
    const q = coldStarts;
    const pass = q.keygateOverPassthroughMs.median <= 5;
    console.log(
      `(q) first request of a fresh isolate, ${q.starts} workerd starts: pass-through median ${q.passthroughFirstMs.median} ms (worst ${q.passthroughFirstMs.worst}), keygate median ${q.keygateFirstMs.median} ms (worst ${q.keygateFirstMs.worst}); keygate - pass-through median ${q.keygateOverPassthroughMs.median} ms (worst ${q.keygateOverPassthroughMs.worst}) [target <= 5 ms: ${pass ? "PASS" : "FAIL"}]; its I/O: KV ${q.firstRequestIo.kv.median}, D1 ${q.firstRequestIo.d1.median} (manifest + first poll median ${q.manifestAndPollMs.median} ms, shard ${q.shardMs.median} ms); keygate's second request ${q.keygateSecondMs.median} ms, the pass-through's ${q.passthroughSecondMs.median} ms`,
    );
  }
  for (const c of [consumer, consumer.manyKeysRun].filter(Boolean)) {
    console.log(
      `usage queue consumer, ${c.keys.toLocaleString("en-US")} keys: ${c.applied * c.eventsPerMessage} of ${c.events} events rolled up in ${c.seconds} s = ${c.eventsPerSecond} events/s, ${c.keyMessagesPerSecond} distinct keys per message per s (${c.messages} messages of ${c.eventsPerMessage}${c.complete ? "" : "; INCOMPLETE"})`,
    );
  }
  if (skipped.length) console.log(`not run: ${skipped.map((s) => `(${s.id}) ${s.name} [needs ${s.needs}]`).join("; ")}`);
  console.log("");
  console.log(targetTable(targets));
  if (workerd.workerdOut.size > 0) {
    console.log("\nworkerd logged (distinct lines, count):");
    for (const [line, n] of [...workerd.workerdOut].sort((a, b) => b[1] - a[1]).slice(0, 8))
      console.log(`  ${String(n).padStart(6)}  ${line.slice(0, 220)}`);
  }
  if (built.composition.length) {
    const top = built.composition.slice(0, 6).map((c) => `${c.package} ${(c.bytes / 1024).toFixed(0)} KiB`);
    console.log(`\nbundle by package: ${top.join(", ")}`);
  }

  const results = {
    machine,
    config: {
      ...CONFIG,
      compatibilityDate: config.compatibility_date,
      tenant: TENANT,
      protectedPath: PROTECTED_PATH,
      scopedPath: SCOPED_PATH,
      keygateWorkers: workers,
    },
    bundle: {
      files: built.files,
      rawBytes: built.rawBytes,
      gzipBytes: built.gzipBytes,
      buildMs: round(built.buildMs, 0),
      composition: built.composition,
    },
    management,
    consumer,
    coldStarts,
    primed,
    sanity: sanityResults,
    scenarios: specs.map((s) => ({
      id: s.id,
      name: s.name,
      method: s.method,
      expect: s.expect.statuses.length === 1 ? s.expect.statuses[0] : s.expect.statuses,
      expectOrigin: s.expect.origin,
      via: s.via,
      worker: s.worker,
    })),
    skipped,
    rounds: rounds.map((r) => ({
      ...r,
      rps: round(r.rps, 1),
      p50: round(r.p50, 3),
      p90: round(r.p90, 3),
      p99: round(r.p99, 3),
      max: round(r.max, 3),
      workerdUsPerReq: round(r.workerdUsPerReq, 1),
      originUsPerReq: round(r.originUsPerReq, 1),
      autocannonUsPerReq: round(r.autocannonUsPerReq, 1),
      foreignCpuPct: round(r.foreignCpuPct, 1),
      loadavg1: round(r.loadavg1, 2),
    })),
    summary,
    targets,
    workerdOutput: Object.fromEntries(workerd.workerdOut),
    elapsedSec: round(elapsedSec(), 1),
  };
  const custom = argv.quick || argv.only || argv.enable || argv.var.length > 0 || argv["strip-hop"];
  const outFile = argv.out ?? path.join(custom ? OUT : BENCH, "results.json");
  writeFileSync(outFile, `${JSON.stringify(results, null, 2)}\n`);
  log(`wrote ${path.relative(ROOT, outFile)}`);
}

runMain(main);
