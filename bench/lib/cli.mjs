// Command-line and report pieces shared by `npm run bench` and `npm run soak`.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { ROOT } from "./processes.mjs";

/** Prints the leading `//` comment block of `filename` (the script's usage) and exits. */
export function printUsageAndExit(filename) {
  console.log(
    readFileSync(filename, "utf8")
      .split("\n")
      .slice(1)
      .filter((l, i, all) => l.startsWith("//") && all.slice(0, i).every((x) => x.startsWith("//")))
      .map((l) => l.replace(/^\/\/ ?/, ""))
      .join("\n"),
  );
  process.exit(0);
}

/** `value` as a positive number, or an error naming `--name`. */
export function positiveNumber(name, value) {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number`);
  return n;
}

/** `--var NAME=VALUE` options as an object. */
export function varOverrides(list) {
  return Object.fromEntries(
    list.map((v) => {
      const i = v.indexOf("=");
      if (i <= 0) throw new Error(`--var expects NAME=VALUE, got ${v}`);
      return [v.slice(0, i), v.slice(i + 1)];
    }),
  );
}

/** Versions of the tools a run measured with, for its results file. */
export function toolVersions() {
  const version = (file) => JSON.parse(readFileSync(file, "utf8")).version;
  return {
    wrangler: version(path.join(ROOT, "node_modules/wrangler/package.json")),
    miniflare: version(createRequire(import.meta.url).resolve("miniflare/package.json")),
    autocannon: version(path.join(ROOT, "node_modules/autocannon/package.json")),
  };
}
