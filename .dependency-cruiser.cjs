/**
 * The layer rules of DESIGN.md ("Layers"), checked by `npm run lint` (dependency-cruiser). Imports
 * run one way, top to bottom; a module may import its own layer (no cycles) and any layer below.
 *
 *   entry points   src/index.ts, app.ts, queues.ts, scheduled.ts
 *   planes         src/gateway/ | src/routes/ + src/openapi/ (the two planes never import each other)
 *   console host   src/console-host/ (serves the console app and the API reference page)
 *   features       src/governance/ > leaks/ > usage/ > alerts/ > webhooks/ > ratelimit/ > abuse/ > audit/
 *                  (a feature imports only the features after it in this order)
 *   key domain     src/keys/, src/auth/
 *   data           src/db/ (schema and queries; knows no domain)
 *   config         src/config.ts, src/env.ts
 *   http           src/http/ (request parsing, validation, responses: over errors and lib only)
 *   leaves         src/lib/, src/errors.ts, src/vocab/, src/alerts/event-types.ts (a vocabulary
 *                  that predates src/vocab/): they import no other layer
 *
 * Type-only imports count: a cycle or an upward import closed by `import type` is still a fact
 * filed in the wrong place. The console app (console/) and the CLI (cli/, bin/) import from src/
 * only its vocabularies and the one helper the console shares (see the last rules).
 */

/** Top to bottom. */
const LAYERS = [
  { name: "entry points", path: "^src/(index|app|queues|scheduled)\\.ts$" },
  { name: "planes", path: "^src/(gateway|routes|openapi)/" },
  { name: "console host", path: "^src/console-host/" },
  { name: "features", path: "^src/(governance|leaks|usage|alerts|webhooks|ratelimit|abuse|audit)/" },
  { name: "key domain", path: "^src/(keys|auth)/" },
  { name: "data", path: "^src/db/" },
  { name: "config", path: "^src/(config|env)\\.ts$" },
  { name: "http", path: "^src/http/" },
  { name: "leaves", path: "^src/(lib/|vocab/|errors\\.ts$|alerts/event-types\\.ts$)" },
];

/** Features, top to bottom: each may import only those after it. */
const FEATURES = ["governance", "leaks", "usage", "alerts", "webhooks", "ratelimit", "abuse", "audit"];

/** A vocabulary that lives in a feature's folder is a leaf, not that feature. */
const LEAF_IN_FEATURE = "^src/alerts/event-types\\.ts$";

const upward = LAYERS.slice(1).map((layer, i) => ({
  name: `no-upward-from-${layer.name.replace(/ /g, "-")}`,
  comment: `${layer.name} may not import a layer above it (${LAYERS.slice(0, i + 1)
    .map((l) => l.name)
    .join(", ")}); DESIGN.md "Layers"`,
  severity: "error",
  from: { path: layer.path, ...(layer.name === "features" ? { pathNot: LEAF_IN_FEATURE } : {}) },
  to: { path: LAYERS.slice(0, i + 1).map((l) => l.path), pathNot: LEAF_IN_FEATURE },
}));
// The leaf vocabulary in alerts/ sits below every layer, features included.
upward.push({
  name: "no-upward-from-leaves-in-features",
  comment: "a leaf vocabulary imports no other layer",
  severity: "error",
  from: { path: LEAF_IN_FEATURE },
  to: { path: LAYERS.slice(0, -1).map((l) => l.path), pathNot: LEAF_IN_FEATURE },
});

const featureOrder = FEATURES.slice(1).map((feature, i) => ({
  name: `feature-order-${feature}`,
  comment: `features import only those after them (${FEATURES.join(" > ")}); ${feature} may not import ${FEATURES.slice(0, i + 1).join(", ")}`,
  severity: "error",
  from: { path: `^src/${feature}/`, pathNot: LEAF_IN_FEATURE },
  to: { path: `^src/(${FEATURES.slice(0, i + 1).join("|")})/`, pathNot: LEAF_IN_FEATURE },
}));

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment: "no import cycles, type-only imports included",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    ...upward,
    ...featureOrder,
    {
      name: "planes-apart-gateway",
      comment: "the data plane shares only the layers below it with the control plane",
      severity: "error",
      from: { path: "^src/gateway/" },
      to: { path: "^src/(routes|openapi)/" },
    },
    {
      name: "planes-apart-routes",
      comment: "the control plane shares only the layers below it with the data plane",
      severity: "error",
      from: { path: "^src/(routes|openapi)/" },
      to: { path: "^src/gateway/" },
    },
    {
      name: "worker-imports-no-app",
      comment: "the worker does not import the console app, the CLI or scripts",
      severity: "error",
      from: { path: "^src/" },
      to: { path: "^(console|cli|bin|scripts|bench|test)/" },
    },
    {
      name: "console-imports-vocabularies",
      comment:
        "the console app imports from src/ only its vocabularies (src/vocab/, src/alerts/event-types.ts) and the control-character escaping it shares with the CLI's output",
      severity: "error",
      from: { path: "^console/" },
      to: { path: "^src/", pathNot: ["^src/vocab/", LEAF_IN_FEATURE, "^src/lib/escape-control-characters\\.ts$"] },
    },
    {
      name: "cli-imports-vocabularies",
      comment: "the CLI imports from src/ only its vocabularies (src/vocab/)",
      severity: "error",
      from: { path: "^(cli|bin)/" },
      to: { path: "^src/", pathNot: ["^src/vocab/"] },
    },
    {
      name: "not-to-unresolvable",
      comment: "an import that resolves to nothing",
      severity: "error",
      from: {},
      to: { couldNotResolve: true, pathNot: "^cloudflare:" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "(^|/)node_modules/|^console/build/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      extensions: [".ts", ".tsx", ".mjs", ".js", ".cjs", ".d.ts", ".json"],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
