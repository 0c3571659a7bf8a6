#!/usr/bin/env node
// `npm run deploy`: a first deploy, or any later one, in one command that is safe to run again.
//
//   1. checks   the deployment config (wrangler.toml [vars] + --var overrides, by the worker's own
//               parsers plus the rules only a deployment has), `npm run typecheck`, `npm run lint`.
//               A failure stops here: nothing has been created.
//   2. reads    `wrangler secret list`, `wrangler d1 list`: which secrets exist, whether D1 "keygate" does.
//   3. migrate  D1 migrations, before the new code goes live (when the database exists).
//   4. secrets  generates and `wrangler secret put`s only the secrets the worker lacks (never replaces
//               one: a new SIGNING_KEYS would invalidate every issued key), before the code that needs them.
//   5. deploy   `wrangler deploy`, whose automatic provisioning creates what the account lacks
//               (D1 "keygate", the KV namespace, both queues) and binds it.
//   6. migrate  on a first deploy only: D1 migrations into the database step 5 created.
//
// --dry-run runs step 1, prints the plan, generates and validates the secrets it would create, and
// runs `wrangler deploy --dry-run`: no network, no account, no credentials.
// --var NAME:VALUE (repeatable) overrides a wrangler.toml var, for the checks and for `wrangler deploy`.
// KEYGATE_WRANGLER=<file.mjs> runs that script with this Node instead of wrangler (tests).
// Generated private material goes to wrangler on stdin only: never to a file, never printed.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { ROOT } from "./lib/dev-state.mjs";
import { newEd25519PrivateJwk, newRsaPrivateJwk } from "./lib/keys.mjs";

// The checks load the worker's TypeScript, which Node strips itself from 22.18 on; `npm run` uses the
// project's Node 24 (node_modules/.bin/node), a bare `node` may be older.
const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  console.error(`deploy: Node ${process.version} is too old; run \`npm run deploy\` (it uses the Node in node_modules/.bin).`);
  process.exit(1);
}
const { deployConfigProblems, validateIdentityAssertionKeys, validateSigningKeys } = await import("./lib/deploy-checks.mjs");

const USAGE = "usage: npm run deploy -- [--dry-run] [--var NAME:VALUE ...] [--skip-code-checks]";
const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

let options;
try {
  options = parseArgs({
    options: {
      "dry-run": { type: "boolean", default: false },
      var: { type: "string", multiple: true, default: [] },
      "skip-code-checks": { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  }).values;
} catch (err) {
  fail(`${err.message}\n${USAGE}`, 2);
}
if (options.help) {
  console.log(USAGE);
  process.exit(0);
}
const dryRun = options["dry-run"];

function log(line = "") {
  console.log(line);
}

function fail(message, code = 1) {
  console.error(`deploy: ${message}`);
  process.exit(code);
}

const overrides = {};
for (const pair of options.var) {
  const m = /^([A-Za-z_][A-Za-z0-9_]*):(.*)$/s.exec(pair);
  if (!m) fail(`--var takes NAME:VALUE, got ${JSON.stringify(pair)}`, 2);
  overrides[m[1]] = m[2];
}
const varArgs = options.var.flatMap((pair) => ["--var", pair]);

// wrangler.toml as wrangler reads it (ROUTE_POLICY as a value, not TOML), then the overrides, as
// `wrangler deploy --var` applies them.
const { unstable_readConfig } = await import("wrangler");
const config = unstable_readConfig({ config: path.join(ROOT, "wrangler.toml") });
const vars = { ...config.vars, ...overrides };
const d1 = config.d1_databases[0];

const WRANGLER = process.env.KEYGATE_WRANGLER ?? path.join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js");
const WRANGLER_ENV = { ...process.env, WRANGLER_SEND_METRICS: "false" };

/** Runs wrangler with this Node; stdin is `input` or nothing, so wrangler never prompts (and never rewrites wrangler.toml). */
function wrangler(args, { input, capture = false } = {}) {
  const result = spawnSync(process.execPath, [WRANGLER, ...args], {
    cwd: ROOT,
    env: WRANGLER_ENV,
    input,
    encoding: "utf8",
    maxBuffer: MAX_OUTPUT_BYTES,
    stdio: [input === undefined ? "ignore" : "pipe", capture ? "pipe" : "inherit", capture ? "pipe" : "inherit"],
  });
  if (result.error) fail(`could not run wrangler: ${result.error.message}`);
  return result;
}

function mustWrangler(args, opts) {
  const result = wrangler(args, opts);
  if (result.status !== 0) {
    if (opts?.capture) process.stderr.write(result.stderr);
    fail(
      `\`wrangler ${args.join(" ")}\` failed (exit ${result.status}); everything before it is done, and running \`npm run deploy\` again resumes`,
    );
  }
  return result;
}

/** The JSON array wrangler printed (it may print a warning line before it). */
function jsonOutput(stdout, command) {
  try {
    return JSON.parse(stdout.slice(stdout.indexOf("[")));
  } catch {
    return fail(`\`wrangler ${command}\` printed no JSON list: ${stdout.slice(0, 200)}`);
  }
}

// ---- 1. checks -------------------------------------------------------------------------------
log(`keygate deploy${dryRun ? " --dry-run (no network, no account)" : ""}`);
log("checks: deployment config (wrangler.toml [vars] and --var)");
const problems = deployConfigProblems(vars);
if (problems.length > 0) {
  fail(
    `the deployment config is not ready; nothing was created:\n${problems.map((p) => `  - ${p}`).join("\n")}\n` +
      "Set these in wrangler.toml [vars], or pass them as --var NAME:VALUE (docs/deploying.md).",
  );
}
if (options["skip-code-checks"]) {
  log("checks: npm run typecheck, npm run lint skipped (--skip-code-checks)");
} else {
  // Under `npm run`, npm_execpath is npm's own script: run it with this Node, like every npm script.
  const npm = process.env.npm_execpath ? [process.execPath, process.env.npm_execpath] : ["npm"];
  for (const script of ["typecheck", "lint"]) {
    log(`checks: npm run ${script}`);
    const run = spawnSync(npm[0], [...npm.slice(1), "run", "-s", script], { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"] });
    if (run.status !== 0) fail(`\`npm run ${script}\` failed; nothing was created`);
  }
}

// ---- 2. reads --------------------------------------------------------------------------------
/** Secrets keygate generates when the worker lacks them; the others (docs/configuration.md) are the operator's. */
const GENERATED_SECRETS = [
  {
    name: "SIGNING_KEYS",
    needed: true,
    make: () => JSON.stringify({ keys: [newRsaPrivateJwk("kg")] }),
    validate: validateSigningKeys,
  },
  {
    name: "IDENTITY_ASSERTION_KEYS",
    needed: vars.IDENTITY_ASSERTION?.trim() === "jwt",
    make: () => JSON.stringify({ keys: [newEd25519PrivateJwk()] }),
    validate: validateIdentityAssertionKeys,
  },
].filter((s) => s.needed);

let existingSecrets; // Set of names; undefined in a dry run
let databaseExists; // boolean; undefined in a dry run
if (!dryRun) {
  log("reads: wrangler secret list, wrangler d1 list");
  const listed = wrangler(["secret", "list", "--format", "json"], { capture: true });
  if (listed.status === 0) {
    existingSecrets = new Set(jsonOutput(listed.stdout, "secret list").map((s) => s.name));
  } else if (/Worker "[^"]*"[^\n]* not found/.test(listed.stdout + listed.stderr)) {
    existingSecrets = new Set(); // a first deploy: no worker yet
  } else {
    process.stderr.write(listed.stderr);
    fail("`wrangler secret list` failed (are you logged in? `npx wrangler login`, or set CLOUDFLARE_API_TOKEN); nothing was created");
  }
  const databases = jsonOutput(mustWrangler(["d1", "list", "--json"], { capture: true }).stdout, "d1 list");
  databaseExists = databases.some((db) => db.name === d1.database_name);
  const more = deployConfigProblems(vars, { userTokenJwksSecret: existingSecrets.has("USER_TOKEN_JWKS") });
  if (more.length > 0) fail(`the deployment config is not ready; nothing was created:\n${more.map((p) => `  - ${p}`).join("\n")}`);
}

// Generated (and validated) even in a dry run: what would be stored is proven to work.
const toCreate = [];
for (const secret of GENERATED_SECRETS) {
  if (existingSecrets?.has(secret.name)) continue;
  const value = secret.make();
  let description;
  try {
    description = await secret.validate(value, vars);
  } catch (err) {
    fail(`a generated ${secret.name} failed validation: ${err.message}`);
  }
  toCreate.push({ name: secret.name, value, description });
}

// ---- the plan --------------------------------------------------------------------------------
const deployArgs = ["deploy", ...varArgs];
const migrateArgs = ["d1", "migrations", "apply", d1.binding, "--remote"];
const queues = (config.queues.producers ?? []).map((q) => q.queue);
const plan = [];
if (dryRun) {
  plan.push({ args: ["secret", "list", "--format", "json"], why: "read: which secrets the worker has" });
  plan.push({ args: ["d1", "list", "--json"], why: `read: whether D1 "${d1.database_name}" exists` });
}
if (dryRun || databaseExists)
  plan.push({ args: migrateArgs, why: `${dryRun ? `if D1 "${d1.database_name}" exists: ` : ""}migrations before the new code` });
for (const s of toCreate)
  plan.push({ args: ["secret", "put", s.name], stdin: s.description, why: dryRun ? "if the worker lacks it" : "the worker lacks it" });
for (const s of GENERATED_SECRETS) if (existingSecrets?.has(s.name)) log(`secrets: ${s.name} exists, kept as it is`);
plan.push({
  args: deployArgs,
  why: `creates what the account lacks: D1 "${d1.database_name}", KV for ${config.kv_namespaces.map((k) => k.binding).join(", ")}, queues ${queues.join(", ")}`,
});
if (dryRun || !databaseExists)
  plan.push({ args: migrateArgs, why: `${dryRun ? `if D1 "${d1.database_name}" did not exist: ` : ""}a first deploy's migrations` });

log(dryRun ? "plan (a real run decides each `if` from the reads):" : "plan:");
for (const [i, step] of plan.entries()) {
  const stdin = step.stdin ? ` < [redacted: generated ${step.stdin}]` : "";
  log(`  ${i + 1}. wrangler ${step.args.join(" ")}${stdin}`);
  log(`       ${step.why}`);
}
if (!vars.USER_TOKEN_JWKS_URL && !vars.USER_TOKEN_JWKS && dryRun) {
  log("note: USER_TOKEN_JWKS_URL is not set, so a real run requires the worker's USER_TOKEN_JWKS secret to exist");
}

// ---- dry run: build what would ship, touch nothing -------------------------------------------
if (dryRun) {
  const outdir = mkdtempSync(path.join(tmpdir(), "keygate-deploy-"));
  log(`wrangler deploy --dry-run --outdir ${outdir}${varArgs.length ? ` ${varArgs.join(" ")}` : ""}`);
  const built = wrangler(["deploy", "--dry-run", "--outdir", outdir, ...varArgs]);
  rmSync(outdir, { recursive: true, force: true });
  if (built.status !== 0) fail("`wrangler deploy --dry-run` failed");
  log("dry run done: checks passed, secrets generated and valid (then discarded), bundle built. Nothing was created.");
  process.exit(0);
}

// ---- 3-6. apply ------------------------------------------------------------------------------
for (const step of plan) {
  log(`\n> wrangler ${step.args.join(" ")}${step.stdin ? " < [redacted]" : ""}`);
  const secret = toCreate.find((s) => step.stdin && s.name === step.args[2]);
  mustWrangler(step.args, { input: secret?.value });
}
log("\ndeployed. Running `npm run deploy` again uploads the code and vars and creates nothing else.");
