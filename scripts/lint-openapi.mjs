#!/usr/bin/env node
// `npm run lint`'s OpenAPI half: builds the document from the route table without a server
// (scripts/openapi.mjs) and lints it with Spectral's OpenAPI ruleset (.spectral.yaml). Any finding
// fails, hints included.
//
//   node scripts/lint-openapi.mjs
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { buildOpenApiDocument } from "./openapi.mjs";

const ROOT = path.resolve(import.meta.dirname, "..");
const require = createRequire(import.meta.url);
const cliPackage = require.resolve("@stoplight/spectral-cli/package.json");
const spectral = path.join(path.dirname(cliPackage), JSON.parse(readFileSync(cliPackage, "utf8")).bin.spectral);

const dir = mkdtempSync(path.join(tmpdir(), "keygate-openapi-"));
try {
  const file = path.join(dir, "openapi.json");
  writeFileSync(file, `${JSON.stringify(await buildOpenApiDocument(), null, 2)}\n`);
  const result = spawnSync(
    process.execPath,
    [spectral, "lint", "--ruleset", path.join(ROOT, ".spectral.yaml"), "--fail-severity", "hint", "--quiet", file],
    { stdio: "inherit" },
  );
  if (result.status !== 0) {
    console.error("Spectral found problems in the OpenAPI document (generated from src/routes/table.ts; scripts/openapi.mjs prints it)");
  }
  process.exitCode = result.status ?? 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
