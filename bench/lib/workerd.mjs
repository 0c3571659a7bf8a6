// One workerd process (miniflare's Node API) running the production bundle as one or more keygate
// workers, each its own isolate on its own 127.0.0.1 socket (`unsafeDirectSockets`, which skips
// miniflare's entry worker), plus optionally a pass-through proxy worker as the baseline.
//
// Every keygate worker gets the bindings wrangler.toml declares, as wrangler itself converts them
// (bench/wrangler-config.mjs), so they share one local D1 and KV (same ids) and keys created
// through one are valid in all. A worker may override vars (a "pipeline off" variant); the
// first is the primary: the others reach its Durable Object classes (one namespace, as in
// production) and do not consume its queues.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { findChildPid } from "./cpu.mjs";
import { keepOnlyOurSignalHandlers, onCleanup, sleep } from "./lifecycle.mjs";
import { OUT } from "./processes.mjs";

const PASSTHROUGH = `export default {
  fetch(req, env) {
    const u = new URL(req.url);
    return fetch(env.ORIGIN + u.pathname + u.search, req);
  },
};`;

/** workerd's console output (the worker's console.error on failures), as distinct lines + counts. */
function outputCollector() {
  const lines = new Map();
  let partial = "";
  const collect = (d) => {
    const all = (partial + String(d)).split("\n");
    partial = all.pop();
    for (const raw of all) {
      const line = raw
        .replace(/bundle-\d+/g, "bundle")
        .replace(/127\.0\.0\.1:\d+/g, "127.0.0.1:PORT")
        .trimEnd();
      if (line === "" || /^\s+at /.test(line)) continue;
      if (lines.size < 100 || lines.has(line)) lines.set(line, (lines.get(line) ?? 0) + 1);
    }
  };
  return { lines, collect };
}

/** miniflare options for one keygate worker running the bundle. */
function keygateWorkerOptions({ worker, primary, config, bundleMain, bundleCode, bindings, stripHop, consumeQueues }) {
  // modulesRules would re-resolve imports: the bundle is one ES module given explicitly. Static
  // assets (the console) are left out: locally miniflare serves them through JS router and asset
  // workers in front of keygate, which production does natively (and `run_worker_first` skips),
  // so they would be measured as keygate's cost. The bench never requests /console.
  const { modulesRules: _rules, bindings: _vars, assets: _assets, ...fromWrangler } = config.workerOptions ?? {};
  const options = {
    ...fromWrangler,
    name: worker.name,
    modules: [{ type: "ESModule", path: bundleMain, contents: bundleCode }],
    compatibilityDate: config.compatibility_date,
    compatibilityFlags: config.compatibility_flags ?? [],
    bindings,
    unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
    stripCfConnectingIp: stripHop,
  };
  if (worker.name !== primary) {
    const durableObjects = {};
    for (const [binding, d] of Object.entries(options.durableObjects ?? {})) {
      const spec = typeof d === "string" ? { className: d } : d;
      durableObjects[binding] = { ...spec, scriptName: spec.scriptName ?? primary };
    }
    options.durableObjects = durableObjects;
    options.additionalUnboundDurableObjects = [];
  }
  if (worker.name !== primary || !consumeQueues) options.queueConsumers = {};
  return options;
}

/**
 * Starts workerd. `keygates`: [{ name, vars }] (the first is the primary); `varOverrides` apply to
 * every keygate worker before its own `vars`. Returns the miniflare instance, each worker's direct
 * URL (`urls[name]`), the entry URL, workerd's pid and its collected output.
 */
export async function startWorkerd({
  miniflare,
  bundleMain,
  config,
  secrets,
  originUrl,
  keygates,
  varOverrides = {},
  passthrough = true,
  inspector = false,
  stripHop = false,
  // false: usage events pile up in the local queue unconsumed, so the queue consumer's roll-ups
  // (its own invocations in production) are not counted as the gateway's CPU.
  consumeQueues = true,
  // A directory: D1, KV and Durable Object state persist there across workerd processes (cold starts).
  persistRoot,
}) {
  const output = outputCollector();
  const bundleCode = readFileSync(bundleMain, "utf8");
  const primary = keygates[0].name;
  const baseBindings = { ...config.vars, ...secrets, ORIGIN_URL: originUrl, ...varOverrides };
  const workers = keygates.map((worker) =>
    keygateWorkerOptions({
      worker,
      primary,
      config,
      bundleMain,
      bundleCode,
      bindings: { ...baseBindings, ...worker.vars },
      consumeQueues,
      stripHop,
    }),
  );
  if (passthrough) {
    workers.push({
      name: "passthrough",
      modules: [{ type: "ESModule", path: path.join(OUT, "passthrough.mjs"), contents: PASSTHROUGH }],
      compatibilityDate: config.compatibility_date,
      compatibilityFlags: config.compatibility_flags ?? [],
      bindings: { ORIGIN: originUrl },
      unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
      stripCfConnectingIp: stripHop,
    });
  }
  const { Log, LogLevel, Miniflare } = miniflare;
  const mf = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    log: new Log(LogLevel.WARN),
    cf: false, // no download of Request.cf data
    ...(persistRoot ? { defaultPersistRoot: persistRoot } : {}),
    ...(inspector ? { inspectorPort: 0 } : {}),
    handleRuntimeStdio(stdout, stderr) {
      stdout.on("data", output.collect);
      stderr.on("data", output.collect);
    },
    workers,
  });
  onCleanup(async () => {
    const pid = findChildPid("workerd");
    await mf.dispose();
    // Let Node reap workerd before we exit, so no zombie is left behind.
    for (let i = 0; pid !== undefined && existsSync(`/proc/${pid}`) && i < 40; i++) await sleep(50);
  });
  const entry = await mf.ready;
  keepOnlyOurSignalHandlers(); // miniflare's "exit" hook (kills workerd synchronously) stays
  const urls = {};
  for (const w of workers) urls[w.name] = (await mf.unsafeGetDirectURL(w.name)).href.replace(/\/$/, "");
  return { mf, entry: entry.href.replace(/\/$/, ""), urls, pid: findChildPid("workerd"), workerdOut: output.lines };
}

/** Applies the split migrations to the shared local D1 (binding DB). */
export async function applyMigrations(mf, migrations, workerName) {
  const db = await mf.getD1Database("DB", workerName);
  for (const m of migrations) await db.batch(m.statements.map((sql) => db.prepare(sql)));
  return migrations.map((m) => m.file);
}
