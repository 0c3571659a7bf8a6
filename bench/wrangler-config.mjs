// Writes, as JSON to the file named by its one argument, what the bench and the soak need from wrangler: wrangler.toml as wrangler reads
// it (vars with ROUTE_POLICY as a JSON value, compatibility date/flags), miniflare's worker options
// for every binding wrangler.toml declares (wrangler's own `unstable_getMiniflareWorkerOptions`, the
// function @cloudflare/vitest-plugin uses, so D1, KV, Durable Objects, Queues, rate-limit
// bindings... come along without a change here), and the D1 migrations split into statements by
// wrangler's own splitter. Runs as a child process because importing wrangler installs
// SIGINT/SIGTERM handlers that exit at once, which would skip the bench's cleanup. A file, not
// stdout: wrangler prints on stdout itself (e.g. "Using secrets defined in .dev.vars" once
// `npm run dev` has written .dev.vars).
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { unstable_getMiniflareWorkerOptions, unstable_readConfig, unstable_splitSqlQuery } from "wrangler";

const outFile = process.argv[2];
if (!outFile) throw new Error("usage: node bench/wrangler-config.mjs <output.json>");
const root = path.resolve(import.meta.dirname, "..");
const configPath = path.join(root, "wrangler.toml");
const config = unstable_readConfig({ config: configPath });
const d1 = config.d1_databases?.[0];
const migrationsDir = path.join(root, d1?.migrations_dir ?? "migrations");
const migrations = readdirSync(migrationsDir)
  .filter((f) => f.endsWith(".sql"))
  .sort()
  .map((file) => ({
    file,
    statements: unstable_splitSqlQuery(readFileSync(path.join(migrationsDir, file), "utf8"))
      .map((s) => s.trim())
      .filter(Boolean),
  }));
const { workerOptions } = unstable_getMiniflareWorkerOptions(configPath);
writeFileSync(
  outFile,
  JSON.stringify({
    name: config.name,
    main: config.main,
    compatibility_date: config.compatibility_date,
    compatibility_flags: config.compatibility_flags ?? [],
    minify: config.minify ?? false,
    vars: config.vars ?? {},
    d1_databases: config.d1_databases ?? [],
    kv_namespaces: config.kv_namespaces ?? [],
    durable_objects: config.durable_objects?.bindings ?? [],
    queues: config.queues ?? {},
    ratelimits: config.ratelimits ?? [],
    migrations,
    // JSON drops functions; wrangler.toml declares only data, so nothing of substance is lost.
    workerOptions,
  }),
);
