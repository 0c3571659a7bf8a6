#!/usr/bin/env node
// Builds the web console (console/, Preact + uPlot, Vite) into console/build/console/, the
// directory wrangler.toml's [assets] serves. The output is git-ignored, so a fresh clone builds it
// on first use: `npm run dev`, `npm test` (vitest.config.ts), `npm run build` and wrangler's own
// [build] step call this with --if-stale, which rebuilds only when console/ or package-lock.json
// changed since the last build (a content hash, so `git checkout` mtimes do not matter).
//
//   node scripts/build-console.mjs [--if-stale]
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(import.meta.dirname, "..");
const CONSOLE_DIR = path.join(ROOT, "console");
export const ASSETS_DIR = path.join(CONSOLE_DIR, "build");
const OUT_DIR = path.join(ASSETS_DIR, "console");
const HASH_FILE = path.join(CONSOLE_DIR, ".build-hash");
/** Under console/ but not inputs of the build. */
const NOT_INPUTS = new Set(["build", ".build-hash", "test", "node_modules"]);

function inputFiles(dir, rel = "") {
  const files = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const relPath = rel ? `${rel}/${entry.name}` : entry.name;
    if (rel === "" && (NOT_INPUTS.has(entry.name) || entry.name.startsWith(".build-tmp-"))) continue;
    if (entry.isDirectory()) files.push(...inputFiles(path.join(dir, entry.name), relPath));
    else if (entry.isFile()) files.push(relPath);
  }
  return files;
}

/** A hash of everything the build reads: console/ sources and the pinned dependency versions. */
export function inputsHash() {
  const hash = createHash("sha256");
  for (const rel of inputFiles(CONSOLE_DIR)) {
    hash.update(`${rel}\0`);
    hash.update(readFileSync(path.join(CONSOLE_DIR, rel)));
  }
  hash.update(readFileSync(path.join(ROOT, "package-lock.json")));
  return hash.digest("hex");
}

export function consoleBuildIsFresh() {
  return existsSync(path.join(OUT_DIR, "index.html")) && existsSync(HASH_FILE) && readFileSync(HASH_FILE, "utf8").trim() === inputsHash();
}

/**
 * Runs `vite build` in a child process into a temporary directory, then moves it into place, so a
 * running `wrangler dev` never sees a half-written build.
 */
export function buildConsole({ quiet = false } = {}) {
  const hash = inputsHash();
  const tmp = path.join(CONSOLE_DIR, `.build-tmp-${process.pid}`);
  const vite = spawnSync(
    process.execPath,
    [
      path.join(ROOT, "node_modules", "vite", "bin", "vite.js"),
      "build",
      "--config",
      path.join(CONSOLE_DIR, "vite.config.ts"),
      "--outDir",
      tmp,
    ],
    { cwd: CONSOLE_DIR, stdio: quiet ? ["ignore", "ignore", "inherit"] : "inherit", env: { ...process.env, NO_COLOR: "1" } },
  );
  if (vite.status !== 0) {
    rmSync(tmp, { recursive: true, force: true });
    throw new Error(`building the console failed (vite exited with ${vite.status})`);
  }
  rmSync(OUT_DIR, { recursive: true, force: true });
  mkdirSync(ASSETS_DIR, { recursive: true });
  renameSync(tmp, OUT_DIR);
  writeFileSync(HASH_FILE, `${hash}\n`);
}

/** Builds the console unless the last build is of the same inputs. Returns whether it built. */
export function ensureConsoleBuilt(options = {}) {
  if (consoleBuildIsFresh()) return false;
  buildConsole(options);
  return true;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const ifStale = process.argv.includes("--if-stale");
  try {
    if (ifStale) {
      if (!ensureConsoleBuilt()) console.error("console build is up to date");
    } else buildConsole();
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
}
