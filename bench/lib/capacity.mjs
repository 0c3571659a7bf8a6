// The capacity harness (issue 17): a workerd (miniflare's Node API) running bench/capacity/worker.ts
// over a persisted local D1 and KV (bench/out/capacity-state by default), so scripts/seed-capacity.mjs
// can fill it once and bench/capacity.mjs measure against it as often as needed.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { readWranglerConfig } from "./bundle.mjs";
import { keepOnlyOurSignalHandlers, onCleanup } from "./lifecycle.mjs";
import { OUT, ROOT } from "./processes.mjs";

export const DEFAULT_STATE_DIR = path.join(OUT, "capacity-state");

/** bench/capacity/worker.ts bundled for workerd (esbuild, as wrangler would). */
async function bundleWorker() {
  const esbuild = await import("esbuild");
  mkdirSync(OUT, { recursive: true });
  const outfile = path.join(OUT, `capacity-worker-${process.pid}.mjs`);
  await esbuild.build({
    entryPoints: [path.join(ROOT, "bench", "capacity", "worker.ts")],
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    external: ["cloudflare:*", "node:*"],
    outfile,
    logLevel: "warning",
  });
  onCleanup(() => import("node:fs").then((fs) => fs.rmSync(outfile, { force: true })));
  return outfile;
}

/**
 * Starts workerd with the capacity worker on `stateDir`'s D1 and KV and applies the migrations it
 * has not seen. Returns { mf, url, db } (db: the D1 binding, driven from Node for bulk writes).
 */
export async function startCapacityWorkerd({ stateDir = DEFAULT_STATE_DIR } = {}) {
  const { Log, LogLevel, Miniflare } = await import("miniflare");
  const config = await readWranglerConfig();
  const scriptPath = await bundleWorker();
  mkdirSync(stateDir, { recursive: true });
  const mf = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    log: new Log(LogLevel.WARN),
    cf: false,
    modules: true,
    scriptPath,
    compatibilityDate: config.compatibility_date,
    compatibilityFlags: config.compatibility_flags ?? [],
    d1Databases: { DB: "capacity" },
    kvNamespaces: { EDGE_RECORDS: "capacity" },
    d1Persist: path.join(stateDir, "d1"),
    kvPersist: path.join(stateDir, "kv"),
  });
  onCleanup(() => mf.dispose());
  const url = (await mf.ready).href.replace(/\/$/, "");
  keepOnlyOurSignalHandlers();
  const db = await mf.getD1Database("DB");
  await db.prepare("CREATE TABLE IF NOT EXISTS capacity_migrations (file TEXT PRIMARY KEY)").run();
  const done = new Set((await db.prepare("SELECT file FROM capacity_migrations").all()).results.map((r) => r.file));
  for (const m of config.migrations) {
    if (done.has(m.file)) continue;
    await db.batch([...m.statements.map((s) => db.prepare(s)), db.prepare("INSERT INTO capacity_migrations VALUES (?)").bind(m.file)]);
  }
  return { mf, url, db };
}

/**
 * GET on the capacity worker; its JSON answer. A connection that fails before an answer is retried
 * (Node's fetch may reuse a keep-alive socket workerd has just closed).
 */
export async function call(url, pathAndQuery) {
  for (let attempt = 1; ; attempt++) {
    let res;
    try {
      res = await fetch(url + pathAndQuery);
    } catch (err) {
      if (attempt < 3) continue;
      throw new Error(`${pathAndQuery}: ${err.message} (${err.cause?.message ?? "no cause"})`);
    }
    if (!res.ok) throw new Error(`${pathAndQuery}: ${res.status} ${await res.text()}`);
    return res.json();
  }
}

export function writeJson(file, value) {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}
