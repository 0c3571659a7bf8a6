#!/usr/bin/env node
// The OpenAPI document without a server: imports the route table through Vite's module runner
// (the TypeScript the worker runs, transformed as the tests' Vite transforms it) and builds the
// document with the same function that serves GET /api/v1/openapi.json. `npm run lint` lints it
// with Spectral (scripts/lint-openapi.mjs); it is also handy for client generators.
//
//   node scripts/openapi.mjs [--server-url http://localhost:3000] [--out openapi.json]
import { writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { runnerImport } from "vite";

const ROOT = path.resolve(import.meta.dirname, "..");
/** wrangler.toml's KEY_ISSUER: what `npm run dev` serves the document with. */
export const DEFAULT_SERVER_URL = "http://localhost:3000";

/** The document for the default scope catalog and `serverUrl` (KEY_ISSUER). */
export async function buildOpenApiDocument({ serverUrl = DEFAULT_SERVER_URL } = {}) {
  const { module } = await runnerImport(path.join(ROOT, "src", "routes", "table.ts"), {
    configFile: false,
    root: ROOT,
    logLevel: "error",
  });
  // The vars openApiDocument reads; the scope catalog is the default one (SCOPE_CATALOG unset).
  return module.openApiDocument({ KEY_ISSUER: serverUrl, KEY_AUDIENCE: "your-api" });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { "server-url": { type: "string" }, out: { type: "string" } } });
  const json = `${JSON.stringify(await buildOpenApiDocument({ serverUrl: values["server-url"] }), null, 2)}\n`;
  if (values.out) writeFileSync(values.out, json);
  else process.stdout.write(json);
}
