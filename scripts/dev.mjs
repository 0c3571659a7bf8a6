#!/usr/bin/env node
// `npm run dev`: generates dev keys on first run, applies D1 migrations locally, starts the demo
// origin (unless you pass your own `--var ORIGIN_URL:...`) and the console's dev identity provider
// (unless you pass your own `--var CONSOLE_OIDC_ISSUER:...`), and runs `wrangler dev` on
// http://localhost:3000, loopback only (which builds the console first if console/ changed). Arguments after `--`
// go to `wrangler dev`, except `--dev-idp-key <file>`: the dev identity provider's private JWK when
// `--env-file` brings its own USER_TOKEN_JWKS (tests do); without it no dev identity provider runs then.
import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import path from "node:path";
import { ensureDevKeys, ROOT } from "./lib/dev-state.mjs";

// The project's own Node (node_modules/.bin/node, from the `node` devDependency) runs npm scripts;
// wrangler needs Node 22+, so a bare `node scripts/dev.mjs` on an older Node would fail later, less clearly.
if (Number(process.versions.node.split(".")[0]) < 22) {
  console.error(`keygate: Node ${process.version} is too old for wrangler; run \`npm run dev\` (it uses the Node in node_modules/.bin).`);
  process.exit(1);
}

/** The console's client id at the dev identity provider (scripts/dev-idp.mjs). */
const DEV_CLIENT_ID = "keygate-console-dev";

const args = process.argv.slice(2);
const devIdpKeyAt = args.indexOf("--dev-idp-key");
const devIdpKey = devIdpKeyAt === -1 ? undefined : args.splice(devIdpKeyAt, 2)[1];
const env = { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" };
const wrangler = path.join(ROOT, "node_modules", ".bin", "wrangler");

function argValue(name) {
  const i = args.findIndex((a) => a === name || a.startsWith(`${name}=`));
  if (i === -1) return undefined;
  return args[i].includes("=") ? args[i].slice(name.length + 1) : args[i + 1];
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// With --env-file the caller brings its own secrets (tests do); otherwise .dev.vars gets dev keys.
if (argValue("--env-file") === undefined) {
  const generated = ensureDevKeys();
  if (generated.length > 0) console.error(`keygate: generated dev keys into .dev.vars: ${generated.join(", ")}`);
}

const persist = argValue("--persist-to");
const migrate = spawnSync(wrangler, ["d1", "migrations", "apply", "DB", "--local", ...(persist ? ["--persist-to", persist] : [])], {
  cwd: ROOT,
  env,
  stdio: ["ignore", "inherit", "inherit"],
});
if (migrate.status !== 0) process.exit(migrate.status ?? 1);

const children = [];
/** Whether the caller passes `--var NAME:...` itself. */
function passesVar(name) {
  return args.some((a, i) => (a === "--var" && args[i + 1]?.startsWith(`${name}:`)) || a.startsWith(`--var=${name}:`));
}

const userOrigin = passesVar("ORIGIN_URL");
const wranglerArgs = ["dev", ...args];
if (!userOrigin) {
  const port = await freePort();
  children.push(
    spawn(process.execPath, [path.join(ROOT, "scripts", "demo-origin.mjs"), "--port", String(port)], { cwd: ROOT, env, stdio: "inherit" }),
  );
  wranglerArgs.push("--var", `ORIGIN_URL:http://127.0.0.1:${port}`);
}

const userIssuer = passesVar("CONSOLE_OIDC_ISSUER");
// The dev IdP signs with the key whose public half the worker trusts: .keygate/'s, or --dev-idp-key's.
if (!userIssuer && (argValue("--env-file") === undefined || devIdpKey !== undefined)) {
  const port = await freePort();
  const idpArgs = ["--port", String(port), "--client-id", DEV_CLIENT_ID, ...(devIdpKey ? ["--idp-key", devIdpKey] : [])];
  children.push(spawn(process.execPath, [path.join(ROOT, "scripts", "dev-idp.mjs"), ...idpArgs], { cwd: ROOT, env, stdio: "inherit" }));
  wranglerArgs.push("--var", `CONSOLE_OIDC_ISSUER:http://127.0.0.1:${port}`, "--var", `CONSOLE_OIDC_CLIENT_ID:${DEV_CLIENT_ID}`);
}

// A webhook receiver on this machine (http://127.0.0.1:...) works out of the box in dev; a
// deployment never sets this, so its webhooks must be https and point outside.
if (!passesVar("WEBHOOK_ALLOW_INSECURE_LOOPBACK")) wranglerArgs.push("--var", "WEBHOOK_ALLOW_INSECURE_LOOPBACK:true");

// Usage is held and rolled up every 2 s in dev (60 s deployed: src/usage/aggregator.ts), so the
// console's charts and the usage API follow a request at once.
if (!passesVar("USAGE_AGGREGATE_SECONDS")) wranglerArgs.push("--var", "USAGE_AGGREGATE_SECONDS:2");

// wrangler dev keeps a client's CF-Connecting-IP, so the dev server believes whatever address a
// client claims (allowlists, throttling, X-Keygate-Client-IP). It binds loopback ([dev] ip =
// "localhost" in wrangler.toml); say so loudly when asked to listen anywhere else.
const ip = argValue("--ip");
if (ip !== undefined && !/^(localhost|127(\.\d{1,3}){3}|::1|\[::1\])$/.test(ip)) {
  console.error(
    `keygate: WARNING: the dev server listens on ${ip}, not loopback. It believes a client's CF-Connecting-IP header ` +
      "(IP allowlists, throttling and X-Keygate-Client-IP can be spoofed); see docs/security-model.md.",
  );
}

const dev = spawn(wrangler, wranglerArgs, { cwd: ROOT, env, stdio: "inherit" });
children.push(dev);

function stop(code) {
  for (const child of children) if (child.exitCode === null) child.kill("SIGTERM");
  process.exit(code);
}
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => stop(0));
dev.on("exit", (code) => stop(code ?? 0));
