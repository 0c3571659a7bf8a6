// The production bundle, exactly as `npm run build` / `wrangler deploy` makes it, and wrangler.toml
// as wrangler reads it (see bench/wrangler-config.mjs).
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { gzipSync } from "node:zlib";
import { bundleComposition } from "../sourcemap.mjs";
import { log, onCleanup } from "./lifecycle.mjs";
import { BENCH, OUT, ROOT, removeStale, runProcess } from "./processes.mjs";

/**
 * `wrangler deploy --dry-run` into bench/out/bundle-<pid>, removed at cleanup unless `keepAs` names
 * a directory of bench/out to keep it under (profiles refer to the exact bundle they sampled).
 */
export async function bundle({ keepAs } = {}) {
  removeStale(OUT, "bundle");
  const dir = path.join(OUT, `bundle-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  onCleanup(() => {
    if (keepAs && existsSync(dir)) {
      rmSync(path.join(OUT, keepAs), { recursive: true, force: true });
      renameSync(dir, path.join(OUT, keepAs));
    } else rmSync(dir, { recursive: true, force: true });
  });
  const wrangler = path.join(ROOT, "node_modules", ".bin", "wrangler");
  const t0 = performance.now();
  await runProcess(wrangler, ["deploy", "--dry-run", "--outdir", dir], {
    WRANGLER_SEND_METRICS: "false",
    CLOUDFLARE_CF_FETCH_ENABLED: "false",
    CI: "true",
    NO_COLOR: "1",
  });
  const buildMs = performance.now() - t0;
  const files = readdirSync(dir).filter((f) => f.endsWith(".js") || f.endsWith(".mjs") || f.endsWith(".wasm"));
  const main = path.join(dir, files.includes("index.js") ? "index.js" : files[0]);
  const code = readFileSync(main);
  let raw = 0;
  let gz = 0;
  for (const f of files) {
    const buf = readFileSync(path.join(dir, f));
    raw += buf.length;
    gz += gzipSync(buf, { level: 9 }).length;
  }
  let composition = [];
  try {
    composition = bundleComposition(code.toString("utf8"), JSON.parse(readFileSync(`${main}.map`, "utf8")));
  } catch (err) {
    log(`bundle composition unavailable: ${err.message}`);
  }
  return { dir, main, files, rawBytes: raw, gzipBytes: gz, buildMs, composition };
}

/** wrangler.toml, miniflare worker options for its bindings, and the split D1 migrations. */
export async function readWranglerConfig() {
  mkdirSync(OUT, { recursive: true });
  const file = path.join(OUT, `wrangler-config-${process.pid}.json`);
  try {
    await runProcess(process.execPath, [path.join(BENCH, "wrangler-config.mjs"), file], {});
    return JSON.parse(readFileSync(file, "utf8"));
  } finally {
    rmSync(file, { force: true });
  }
}
