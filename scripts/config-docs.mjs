#!/usr/bin/env node
// docs/configuration.md's table of vars and secrets, generated from the config table
// (src/config/vars.ts, which imports nothing, so Node loads it as it is: it strips the types).
// Rewrites the region between the config-table markers; `--check` changes nothing and fails when
// the file is stale (`npm run lint` runs it, and test/e2e/config-table.test.ts).
//
//   node scripts/config-docs.mjs [--check]
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { VARS } from "../src/config/vars.ts";

const ROOT = path.resolve(import.meta.dirname, "..");
export const CONFIG_DOC = path.join(ROOT, "docs", "configuration.md");
const START = "<!-- config-table:start -->";
const END = "<!-- config-table:end -->";

function code(value) {
  return `\`${typeof value === "string" ? value : JSON.stringify(value)}\``;
}

function typeOf(spec) {
  if (spec.type === "enum") return spec.values.map(code).join(" / ");
  if (spec.type === "integer") return spec.max === undefined ? `integer >= ${spec.min}` : `integer ${spec.min} to ${spec.max}`;
  return spec.type;
}

function defaultOf(spec) {
  if (spec.defaultDoc !== undefined) return spec.defaultDoc;
  return spec.default === undefined ? "" : code(spec.default);
}

/** The generated table, one row per var in the table's order. */
export function renderConfigTable() {
  const rows = Object.entries(VARS).map(([name, spec]) =>
    [code(name), spec.kind, typeOf(spec), defaultOf(spec), spec.feature, spec.doc].map((cell) => cell.replace(/\|/g, "\\|")),
  );
  return [
    "| Name | Kind | Type | Default | Feature | Meaning |",
    "|---|---|---|---|---|---|",
    ...rows.map((cells) => `| ${cells.join(" | ")} |`),
  ].join("\n");
}

/** `text` with the region between the markers replaced by the generated table. */
export function withConfigTable(text) {
  const start = text.indexOf(START);
  const end = text.indexOf(END);
  if (start === -1 || end < start) throw new Error(`${CONFIG_DOC} lacks the ${START} ... ${END} markers`);
  return `${text.slice(0, start + START.length)}\n${renderConfigTable()}\n${text.slice(end)}`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const current = readFileSync(CONFIG_DOC, "utf8");
  const next = withConfigTable(current);
  if (process.argv.includes("--check")) {
    if (next !== current) {
      console.error("docs/configuration.md's table of vars is stale: run `npm run docs:config` (it is generated from src/config/vars.ts)");
      process.exitCode = 1;
    }
  } else if (next !== current) {
    writeFileSync(CONFIG_DOC, next);
    console.log("docs/configuration.md: table of vars rewritten from src/config/vars.ts");
  }
}
