#!/usr/bin/env node
// `npm run bench`: keygate's data-plane cost inside workerd.
//
// 1. Bundles the worker as production does (`wrangler deploy --dry-run`) and records its size.
// 2. Runs the bundle in workerd through miniflare's Node API (local D1 + KV), next to a
//    pass-through proxy worker (the baseline), both on their own 127.0.0.1 sockets.
// 3. Starts a tiny Node origin (own process) answering {"ok":true}.
// 4. Creates API keys through the management API (and times it), revokes one.
// 5. Load-tests each scenario with autocannon in alternating order over several rounds.
// 6. Prints a table with pass/fail targets and writes bench/results.json.
//
//   npm run bench [-- --rounds 3 --duration 5 --warmup 1 --connections 50 --keys 1000]
//   npm run bench -- --quick        smoke run (1 round of 2 s, 100 keys)
//   npm run bench -- --entry        also measure keygate through miniflare's entry socket
//   npm run bench -- --strip-hop    keep miniflare's CF-Connecting-IP-stripping outbound worker
//   npm run bench -- --var NAME=VALUE   override a keygate var (e.g. REVOCATION_CACHE_TTL_SECONDS=1)
//   npm run bench -- --only b,c     run a subset of scenarios ((b) is always kept: it is the baseline)
//   npm run bench -- --profile      CPU-profile keygate in workerd instead of the load table
import { execFileSync, fork, spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import { bundleComposition } from "./sourcemap.mjs";

// Heavy modules are imported in main(), after the signal handlers below are in place, so that a
// Ctrl-C during start-up still stops whatever was already started.
let autocannon;
let jose;
let miniflare;

const ROOT = path.resolve(import.meta.dirname, "..");
const BENCH = path.join(ROOT, "bench");
const OUT = path.join(BENCH, "out");
const TENANT = "bench";
const PROTECTED_PATH = "/api/v1/protected-resource";
// wrangler.toml's ROUTE_POLICY: POST /api/v1/resources/** needs api:write; bench keys hold api:read.
const SCOPED_PATH = "/api/v1/resources";
// The default run must stay under 5 minutes on 2 cores; bigger custom runs get proportionally more.
const DEFAULT_BUDGET_MS = 290_000;

const { values: argv } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    duration: { type: "string", default: "5" },
    warmup: { type: "string", default: "1" },
    connections: { type: "string", default: "50" },
    keys: { type: "string", default: "1000" },
    quick: { type: "boolean", default: false },
    entry: { type: "boolean", default: false },
    "strip-hop": { type: "boolean", default: false },
    var: { type: "string", multiple: true, default: [] },
    only: { type: "string" },
    profile: { type: "boolean", default: false },
    "profile-seconds": { type: "string", default: "4" },
    // Default: bench/results.json; smoke, subset and override runs go to bench/out/results.json.
    out: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});
if (argv.help) {
  console.log(
    readFileSync(import.meta.filename, "utf8")
      .split("\n")
      .slice(1)
      .filter((l, i, all) => l.startsWith("//") && all.slice(0, i).every((x) => x.startsWith("//")))
      .map((l) => l.replace(/^\/\/ ?/, ""))
      .join("\n"),
  );
  process.exit(0);
}
function posInt(name, value) {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number`);
  return n;
}
const CONFIG = {
  rounds: argv.quick ? 1 : Math.round(posInt("rounds", argv.rounds)),
  durationSec: argv.quick ? 2 : posInt("duration", argv.duration),
  warmupSec: argv.quick ? 1 : posInt("warmup", argv.warmup),
  connections: Math.round(posInt("connections", argv.connections)),
  keys: argv.quick ? 100 : Math.round(posInt("keys", argv.keys)),
  entrySocket: argv.entry,
  // miniflare by default sends every outbound fetch through an extra JS worker that strips
  // CF-Connecting-IP (production does that natively). Off by default; --strip-hop turns it on.
  miniflareStripHop: argv["strip-hop"],
  varOverrides: Object.fromEntries(
    argv.var.map((v) => {
      const i = v.indexOf("=");
      if (i <= 0) throw new Error(`--var expects NAME=VALUE, got ${v}`);
      return [v.slice(0, i), v.slice(i + 1)];
    }),
  ),
  profile: argv.profile,
  profileSec: posInt("profile-seconds", argv["profile-seconds"]),
  only: argv.only ? [...new Set(["b", ...argv.only.split(",").map((x) => x.trim())])] : null,
};

// ---------------------------------------------------------------------------------------------
// Lifecycle: everything started registers its stop function; they run on exit, error and Ctrl-C.
const cleanups = [];
let cleaning;
let currentCannon;
function cleanup() {
  cleaning ??= (async () => {
    currentCannon?.stop();
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch (err) {
        console.error(`cleanup: ${err?.message ?? err}`);
      }
    }
  })();
  return cleaning;
}
let interrupted = false;
function onSignal(signal) {
  if (interrupted) process.exit(130);
  interrupted = true;
  console.error(`\n${signal}: stopping everything the bench started...`);
  const hard = setTimeout(() => process.exit(130), 10_000);
  hard.unref();
  cleanup().finally(() => process.exit(130));
}
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, onSignal);
/** miniflare adds SIGINT/SIGTERM handlers that exit at once; ours stop everything in order. */
function keepOnlyOurSignalHandlers() {
  for (const signal of ["SIGINT", "SIGTERM"]) {
    for (const l of process.listeners(signal)) if (l !== onSignal) process.removeListener(signal, l);
  }
}
const started = performance.now();
const perRunSec = CONFIG.warmupSec + CONFIG.durationSec + 0.6;
const plannedSec = 45 + (7 + (CONFIG.entrySocket ? 1 : 0)) * (CONFIG.profile ? 1 : CONFIG.rounds) * perRunSec + CONFIG.keys * 0.02;
const TIME_BUDGET_MS = Math.max(DEFAULT_BUDGET_MS, plannedSec * 1500);
const watchdog = setTimeout(() => {
  console.error(`bench exceeded its ${TIME_BUDGET_MS / 1000} s budget; stopping`);
  cleanup().finally(() => process.exit(3));
}, TIME_BUDGET_MS);
watchdog.unref();

const log = (...a) => console.error(`[${((performance.now() - started) / 1000).toFixed(1).padStart(5)}s]`, ...a);

// ---------------------------------------------------------------------------------------------
// Small helpers.
function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const round = (x, d = 2) => (Number.isFinite(x) ? Number(x.toFixed(d)) : x);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// CPU accounting from /proc (Linux): CPU time of workerd, the origin and this process (autocannon)
// per measured run, and how busy the rest of the machine was meanwhile (other people's builds).
const CLK_TCK = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();
function procCpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK; // utime + stime, all threads
  } catch {
    return Number.NaN;
  }
}
function machineBusyMs() {
  try {
    const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3] + (f[4] ?? 0);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return ((total - idle) * 1000) / CLK_TCK;
  } catch {
    return Number.NaN;
  }
}
/** The workerd process miniflare spawned (a direct child of this process). */
function findWorkerdPid() {
  try {
    for (const p of readdirSync("/proc")) {
      if (!/^\d+$/.test(p)) continue;
      try {
        const stat = readFileSync(`/proc/${p}/stat`, "utf8");
        const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
        const ppid = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1];
        if (comm === "workerd" && ppid === String(process.pid)) return Number(p);
      } catch {}
    }
  } catch {}
  return undefined;
}
function cpuSnapshot(pids) {
  return {
    at: performance.now(),
    busy: machineBusyMs(),
    workerd: procCpuMs(pids.workerd),
    origin: procCpuMs(pids.origin),
    bench: procCpuMs(process.pid),
  };
}
function cpuDelta(a, b) {
  const wall = b.at - a.at;
  const d = (k) => b[k] - a[k];
  const ours = d("workerd") + d("origin") + d("bench");
  return {
    wallMs: wall,
    workerdMs: d("workerd"),
    originMs: d("origin"),
    benchMs: d("bench"),
    // Busy CPU of everything else on the machine, as a share of all cores.
    foreignPct: (Math.max(0, d("busy") - ours) / (wall * os.cpus().length)) * 100,
  };
}

function run(cmd, args, env, { stdoutOnly = false } = {}) {
  return new Promise((resolve, reject) => {
    // Own process group, so that stopping it also stops what it started (wrangler's esbuild).
    const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => {
      if (stdoutOnly) err += d;
      else out += d;
    });
    const kill = () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        child.kill("SIGTERM");
      }
    };
    cleanups.push(kill);
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(" ")} exited ${code}:\n${out}${err}`))));
  });
}

// ---------------------------------------------------------------------------------------------
// 1. Bundle exactly like `npm run build` / `wrangler deploy`, and size it.

/** bench/out/bundle-<pid> directories left by runs that were killed outright (SIGKILL). */
function removeStaleBundles() {
  for (const d of readdirSync(OUT)) {
    const pid = /^bundle-(\d+)$/.exec(d)?.[1];
    if (pid && Number(pid) !== process.pid && !alive(Number(pid))) rmSync(path.join(OUT, d), { recursive: true, force: true });
  }
}
function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === "EPERM";
  }
}

async function bundle() {
  const dir = path.join(OUT, `bundle-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  // Profiles refer to the exact bundle they sampled: --profile keeps it as bench/out/profile-bundle/.
  cleanups.push(() => {
    if (CONFIG.profile && existsSync(dir)) {
      rmSync(path.join(OUT, "profile-bundle"), { recursive: true, force: true });
      renameSync(dir, path.join(OUT, "profile-bundle"));
    } else rmSync(dir, { recursive: true, force: true });
  });
  const wrangler = path.join(ROOT, "node_modules", ".bin", "wrangler");
  const t0 = performance.now();
  await run(wrangler, ["deploy", "--dry-run", "--outdir", dir], {
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

// ---------------------------------------------------------------------------------------------
// 2. wrangler.toml and the migrations, read by wrangler itself (in a child: see wrangler-config.mjs).
async function readWranglerConfig() {
  return JSON.parse(await run(process.execPath, [path.join(BENCH, "wrangler-config.mjs")], {}, { stdoutOnly: true }));
}

// ---------------------------------------------------------------------------------------------
// 3. The origin, in its own process.
async function startOrigin() {
  const child = fork(path.join(BENCH, "origin.mjs"), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  cleanups.push(
    () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const t = setTimeout(() => {
          child.kill("SIGKILL");
          resolve();
        }, 2000);
        child.once("exit", () => {
          clearTimeout(t);
          resolve();
        });
        if (child.connected) child.send({ cmd: "stop" });
        else child.kill("SIGTERM");
      }),
  );
  const port = await new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`origin exited early (${code})`)));
    child.once("message", (m) => (m?.ready ? resolve(m.port) : reject(new Error("origin did not start"))));
  });
  let seq = 0;
  const pending = new Map();
  child.on("message", (m) => {
    if (m?.id !== undefined) {
      pending.get(m.id)?.(m.count);
      pending.delete(m.id);
    }
  });
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid,
    count: () =>
      new Promise((resolve) => {
        const id = ++seq;
        pending.set(id, resolve);
        child.send({ cmd: "count", id });
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// 4. workerd via miniflare: keygate (bundle) + a pass-through proxy, each on its own socket.
const PASSTHROUGH = `export default {
  fetch(req, env) {
    const u = new URL(req.url);
    return fetch(env.ORIGIN + u.pathname + u.search, req);
  },
};`;

async function startWorkers({ bundleMain, config, secrets, originUrl, inspector }) {
  // workerd's console output (the worker's console.error on failures), as distinct lines + counts.
  const workerdOut = new Map();
  let partial = "";
  const collect = (d) => {
    const lines = (partial + String(d)).split("\n");
    partial = lines.pop();
    for (const raw of lines) {
      const line = raw
        .replace(/bundle-\d+/g, "bundle")
        .replace(/127\.0\.0\.1:\d+/g, "127.0.0.1:PORT")
        .trimEnd();
      if (line === "" || /^\s+at /.test(line)) continue;
      if (workerdOut.size < 100 || workerdOut.has(line)) workerdOut.set(line, (workerdOut.get(line) ?? 0) + 1);
    }
  };
  const compatibilityDate = config.compatibility_date;
  const compatibilityFlags = config.compatibility_flags ?? [];
  const bindings = { ...config.vars, ...secrets, ORIGIN_URL: originUrl, ...CONFIG.varOverrides };
  const { Log, LogLevel, Miniflare } = miniflare;
  const mf = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    log: new Log(LogLevel.WARN),
    cf: false, // no download of Request.cf data
    ...(inspector ? { inspectorPort: 0 } : {}),
    handleRuntimeStdio(stdout, stderr) {
      stdout.on("data", collect);
      stderr.on("data", collect);
    },
    workers: [
      {
        name: "keygate",
        modules: [{ type: "ESModule", path: bundleMain, contents: readFileSync(bundleMain, "utf8") }],
        compatibilityDate,
        compatibilityFlags,
        bindings,
        d1Databases: { DB: "keygate-bench" },
        kvNamespaces: { EDGE_RECORDS: "revocations-bench" },
        unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
        stripCfConnectingIp: CONFIG.miniflareStripHop,
      },
      {
        name: "passthrough",
        modules: [{ type: "ESModule", path: path.join(OUT, "passthrough.mjs"), contents: PASSTHROUGH }],
        compatibilityDate,
        compatibilityFlags,
        bindings: { ORIGIN: originUrl },
        unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
        stripCfConnectingIp: CONFIG.miniflareStripHop,
      },
    ],
  });
  cleanups.push(async () => {
    const pid = findWorkerdPid();
    await mf.dispose();
    // Let Node reap workerd before we exit, so no zombie is left behind.
    for (let i = 0; pid !== undefined && existsSync(`/proc/${pid}`) && i < 40; i++) await sleep(50);
  });
  const entry = await mf.ready;
  keepOnlyOurSignalHandlers(); // miniflare's "exit" hook (kills workerd synchronously) stays
  const keygate = (await mf.unsafeGetDirectURL("keygate")).href.replace(/\/$/, "");
  const passthrough = (await mf.unsafeGetDirectURL("passthrough")).href.replace(/\/$/, "");
  return { mf, entry: entry.href.replace(/\/$/, ""), keygate, passthrough, workerdOut };
}

async function applyMigrations(mf, migrations) {
  const db = await mf.getD1Database("DB", "keygate");
  for (const m of migrations) await db.batch(m.statements.map((sql) => db.prepare(sql)));
  return migrations.map((m) => m.file);
}

// ---------------------------------------------------------------------------------------------
// 5. Keys, through the management API.
async function userToken(config, idpJwk) {
  const key = await jose.importJWK(idpJwk, "RS256");
  const now = Math.floor(Date.now() / 1000);
  return new jose.SignJWT({ [config.vars.USER_TOKEN_TENANTS_CLAIM ?? "tenants"]: [TENANT] })
    .setProtectedHeader({ alg: "RS256", typ: "JWT", kid: idpJwk.kid })
    .setSubject("bench-user")
    .setIssuer(config.vars.USER_TOKEN_ISSUER ?? "keygate-dev-idp")
    .setAudience(config.vars.USER_TOKEN_AUDIENCE ?? "keygate")
    .setIssuedAt(now)
    .setExpirationTime(now + 3600)
    .sign(key);
}

async function createKeys(base, token, n) {
  const keys = [];
  const latencies = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const res = await fetch(`${base}/api/v1/tenant/${TENANT}/api-keys/create`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ name: `bench-${i}`, scopes: ["api:read"], expires_in_days: 30 }),
    });
    const body = await res.json();
    latencies.push(performance.now() - t);
    if (res.status !== 201) throw new Error(`create #${i} failed: ${res.status} ${JSON.stringify(body)}`);
    keys.push({ id: body.id, apiKey: body.api_key });
  }
  const totalMs = performance.now() - t0;
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    keys,
    stats: {
      count: n,
      totalMs: round(totalMs, 0),
      meanMs: round(mean(latencies), 3),
      p50Ms: round(percentile(sorted, 50), 3),
      p99Ms: round(percentile(sorted, 99), 3),
      maxMs: round(sorted[sorted.length - 1], 3),
    },
  };
}

async function revokeKey(base, token, id) {
  const t = performance.now();
  const res = await fetch(`${base}/api/v1/tenant/${TENANT}/api-keys/${id}/revoke`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ reason: "bench" }),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`revoke failed: ${res.status} ${text}`);
  return performance.now() - t;
}

/** Changes the signature's last base64url character so that the decoded bytes really differ. */
function tamperSignature(jwt) {
  const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const last = jwt.at(-1);
  // A 256-byte RS256 signature is 342 base64url characters; the last one carries only 2 data bits
  // (its top bits), so flipping a low bit could decode to the same bytes. Flip the top bit instead.
  const flipped = B64URL[B64URL.indexOf(last) ^ 0b100000];
  return jwt.slice(0, -1) + flipped;
}

// ---------------------------------------------------------------------------------------------
// 6. Load.
function cannon(opts, latencies) {
  return new Promise((resolve, reject) => {
    const inst = autocannon({ timeout: 10, excludeErrorStats: false, ...opts }, (err, res) => {
      currentCannon = undefined;
      if (err) reject(err);
      else resolve(res);
    });
    currentCannon = inst;
    if (latencies) inst.on("response", (_client, _status, _bytes, ms) => latencies.push(ms));
  });
}

async function measure(scenario, origin, pids, roundNo) {
  const base = {
    url: scenario.url,
    connections: CONFIG.connections,
    method: scenario.method,
    headers: scenario.headers,
    requests: scenario.requests,
  };
  const before = await origin.count();
  await cannon({ ...base, duration: CONFIG.warmupSec });
  const mid = await origin.count();
  const latencies = [];
  const cpu0 = cpuSnapshot(pids);
  const res = await cannon({ ...base, duration: CONFIG.durationSec }, latencies);
  const cpu = cpuDelta(cpu0, cpuSnapshot(pids));
  const after = await origin.count();
  latencies.sort((a, b) => a - b);
  const durationSec = res.duration ?? CONFIG.durationSec;
  const responses = latencies.length;
  return {
    round: roundNo,
    rps: responses / durationSec,
    p50: percentile(latencies, 50),
    p90: percentile(latencies, 90),
    p99: percentile(latencies, 99),
    max: latencies[latencies.length - 1],
    responses,
    non2xx: res.non2xx,
    statusCodes: Object.fromEntries(Object.entries(res.statusCodeStats ?? {}).map(([k, v]) => [k, v.count])),
    errors: res.errors,
    timeouts: res.timeouts,
    workerdUsPerReq: (cpu.workerdMs * 1000) / Math.max(1, responses),
    originUsPerReq: (cpu.originMs * 1000) / Math.max(1, responses),
    autocannonUsPerReq: (cpu.benchMs * 1000) / Math.max(1, responses),
    foreignCpuPct: cpu.foreignPct,
    loadavg1: os.loadavg()[0],
    originHits: after - mid,
    originHitsWarmup: mid - before,
    durationSec: round(durationSec, 3),
    autocannon: { rpsAvg: res.requests.average, p50: res.latency.p50, p99: res.latency.p99 },
  };
}

async function sanity(scenario) {
  const one = scenario.requests?.[0];
  const headers = one?.headers ?? scenario.headers ?? {};
  const res = await fetch(scenario.url + (one?.path ?? ""), { method: one?.method ?? scenario.method ?? "GET", headers });
  const text = await res.text();
  if (res.status !== scenario.expect) {
    throw new Error(
      `sanity check of (${scenario.id}) ${scenario.name}: expected ${scenario.expect}, got ${res.status} ${text.slice(0, 300)}`,
    );
  }
  return { status: res.status, body: text.slice(0, 200) };
}

// ---------------------------------------------------------------------------------------------
// 7. Report.
function summarize(scenarios, rounds) {
  const byId = Object.fromEntries(scenarios.map((s) => [s.id, rounds.filter((r) => r.scenario === s.id)]));
  const b = byId.b;
  const bRps = mean(b.map((r) => r.rps));
  const bP99 = mean(b.map((r) => r.p99));
  const bCpu = mean(b.map((r) => r.workerdUsPerReq));
  const summary = {};
  for (const s of scenarios) {
    const rs = byId[s.id];
    const rps = rs.map((r) => r.rps);
    // Paired by round: each round's ratio against the same round's baseline shows the noise.
    const pairedRatios = rs.map((r) => r.rps / (b.find((x) => x.round === r.round)?.rps ?? bRps));
    summary[s.id] = {
      name: s.name,
      rpsMean: round(mean(rps), 0),
      rpsMin: round(Math.min(...rps), 0),
      rpsMax: round(Math.max(...rps), 0),
      p50Ms: round(mean(rs.map((r) => r.p50)), 3),
      p99Ms: round(mean(rs.map((r) => r.p99)), 3),
      non2xx: rs.reduce((a, r) => a + r.non2xx, 0),
      errors: rs.reduce((a, r) => a + r.errors + r.timeouts, 0),
      responses: rs.reduce((a, r) => a + r.responses, 0),
      statusCodes: rs.reduce((acc, r) => {
        for (const [k, v] of Object.entries(r.statusCodes)) acc[k] = (acc[k] ?? 0) + v;
        return acc;
      }, {}),
      originHits: rs.reduce((a, r) => a + r.originHits + r.originHitsWarmup, 0),
      ratioVsB: round(mean(rps) / bRps, 3),
      ratioVsBRange: [round(Math.min(...pairedRatios), 3), round(Math.max(...pairedRatios), 3)],
      p99DeltaVsBMs: round(mean(rs.map((r) => r.p99)) - bP99, 3),
      workerdUsPerReq: round(mean(rs.map((r) => r.workerdUsPerReq)), 1),
      workerdUsPerReqDeltaVsB: round(mean(rs.map((r) => r.workerdUsPerReq)) - bCpu, 1),
      originUsPerReq: round(mean(rs.map((r) => r.originUsPerReq)), 1),
      autocannonUsPerReq: round(mean(rs.map((r) => r.autocannonUsPerReq)), 1),
      foreignCpuPct: round(mean(rs.map((r) => r.foreignCpuPct)), 1),
    };
  }
  const t = [];
  const c = summary.c;
  if (c) {
    t.push({ id: "c", target: "(c) >= 0.95x (b) req/s", pass: c.ratioVsB >= 0.95, value: `${c.ratioVsB}x` });
    t.push({
      id: "c",
      target: "(c) p99 <= (b) p99 + 1 ms",
      pass: c.p99DeltaVsBMs <= 1,
      value: `${c.p99DeltaVsBMs >= 0 ? "+" : ""}${c.p99DeltaVsBMs} ms`,
    });
  }
  if (summary.d) t.push({ id: "d", target: "(d) >= 0.85x (b) req/s", pass: summary.d.ratioVsB >= 0.85, value: `${summary.d.ratioVsB}x` });
  for (const id of ["c", "d"]) {
    const s = summary[id];
    if (!s) continue;
    const ok = (s.statusCodes[200] ?? 0) === s.responses && s.errors === 0;
    t.push({
      id,
      target: `(${id}) every response is 200`,
      pass: ok,
      value: JSON.stringify(s.statusCodes) + (s.errors ? ` +${s.errors} errors` : ""),
    });
  }
  for (const id of ["e", "f", "g"]) {
    const s = summary[id];
    if (!s) continue;
    t.push({ id, target: `(${id}) >= 1.5x (b) req/s`, pass: s.ratioVsB >= 1.5, value: `${s.ratioVsB}x` });
    t.push({ id, target: `(${id}) zero origin hits`, pass: s.originHits === 0, value: String(s.originHits) });
    const expected = scenarios.find((x) => x.id === id).expect;
    const allExpected = (s.statusCodes[expected] ?? 0) === s.responses && s.errors === 0;
    t.push({ id, target: `(${id}) every response is ${expected}`, pass: allExpected, value: JSON.stringify(s.statusCodes) });
  }
  return { summary, targets: t };
}

function table(rows, columns) {
  const widths = columns.map((c) => Math.max(c.title.length, ...rows.map((r) => String(c.get(r)).length)));
  const line = (cells) => cells.map((s, i) => (columns[i].left ? String(s).padEnd(widths[i]) : String(s).padStart(widths[i]))).join("  ");
  return [
    line(columns.map((c) => c.title)),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...rows.map((r) => line(columns.map((c) => c.get(r)))),
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------
async function main() {
  mkdirSync(OUT, { recursive: true });
  removeStaleBundles();
  [{ default: autocannon }, jose, miniflare] = await Promise.all([import("autocannon"), import("jose"), import("miniflare")]);
  const { newDevKeyMaterial } = await import("../scripts/lib/keys.mjs");
  log(`config: ${JSON.stringify(CONFIG)}`);

  log("bundling with `wrangler deploy --dry-run`...");
  const [built, config] = await Promise.all([bundle(), readWranglerConfig()]);
  log(
    `bundle: ${(built.rawBytes / 1024).toFixed(1)} KiB raw, ${(built.gzipBytes / 1024).toFixed(1)} KiB gzip (${built.buildMs.toFixed(0)} ms)`,
  );

  const origin = await startOrigin();
  log(`origin on ${origin.url} (pid ${origin.pid})`);

  const material = newDevKeyMaterial();
  const workers = await startWorkers({
    bundleMain: built.main,
    config,
    secrets: { SIGNING_KEYS: material.SIGNING_KEYS, USER_TOKEN_JWKS: material.USER_TOKEN_JWKS },
    originUrl: origin.url,
    inspector: CONFIG.profile,
  });
  log(`workerd: keygate ${workers.keygate}, pass-through ${workers.passthrough}, miniflare entry ${workers.entry}`);
  const pids = { workerd: findWorkerdPid(), origin: origin.pid };
  if (pids.workerd === undefined) log("warning: workerd process not found; no CPU-per-request numbers");
  const migrations = await applyMigrations(workers.mf, config.migrations);
  log(`applied migrations: ${migrations.join(", ")}`);

  const token = await userToken(config, material.idpPrivateJwk);
  // One extra key, outside the pool, is the one that gets revoked.
  log(`creating ${CONFIG.keys + 1} keys sequentially through the management API...`);
  const created = await createKeys(workers.keygate, token, CONFIG.keys + 1);
  const pool = created.keys.slice(0, CONFIG.keys).map((k) => k.apiKey);
  const revoked = created.keys[CONFIG.keys];
  const revokeMs = await revokeKey(workers.keygate, token, revoked.id);
  log(`creates: p50 ${created.stats.p50Ms} ms, p99 ${created.stats.p99Ms} ms; revoke ${revokeMs.toFixed(1)} ms`);

  const auth = (k) => ({ authorization: `Bearer ${k}` });
  let nextKey = 0;
  const scenarios = [
    { id: "a", name: "origin direct", url: origin.url + PROTECTED_PATH, method: "GET", headers: auth(pool[0]), expect: 200 },
    {
      id: "b",
      name: "pass-through worker",
      worker: "passthrough",
      url: workers.passthrough + PROTECTED_PATH,
      method: "GET",
      headers: auth(pool[0]),
      expect: 200,
    },
    { id: "c", name: "keygate, 1 valid key", url: workers.keygate + PROTECTED_PATH, method: "GET", headers: auth(pool[0]), expect: 200 },
    {
      id: "d",
      name: `keygate, ${pool.length} keys round-robin`,
      url: workers.keygate,
      // One global rotation shared by all connections, so in-flight requests carry distinct keys
      // (a static `requests` array would walk every connection through the keys in lockstep).
      requests: [
        {
          method: "GET",
          path: PROTECTED_PATH,
          headers: auth(pool[0]),
          setupRequest: (req) => {
            req.headers = { ...req.headers, authorization: `Bearer ${pool[nextKey++ % pool.length]}` };
            return req;
          },
        },
      ],
      expect: 200,
    },
    {
      id: "e",
      name: "keygate, bad signature",
      url: workers.keygate + PROTECTED_PATH,
      method: "GET",
      headers: auth(tamperSignature(pool[0])),
      expect: 401,
    },
    {
      id: "f",
      name: "keygate, revoked key",
      url: workers.keygate + PROTECTED_PATH,
      method: "GET",
      headers: auth(revoked.apiKey),
      expect: 401,
    },
    { id: "g", name: "keygate, missing scope", url: workers.keygate + SCOPED_PATH, method: "POST", headers: auth(pool[0]), expect: 403 },
  ];
  if (CONFIG.entrySocket) {
    scenarios.push({
      id: "c'",
      name: "keygate via miniflare entry",
      url: workers.entry + PROTECTED_PATH,
      method: "GET",
      headers: auth(pool[0]),
      expect: 200,
    });
  }
  if (CONFIG.only) {
    const keep = scenarios.filter((s) => CONFIG.only.includes(s.id));
    scenarios.splice(0, scenarios.length, ...keep);
  }
  const sanityResults = {};
  for (const s of scenarios) sanityResults[s.id] = await sanity(s);
  log("sanity checks passed (expected status from every scenario)");

  const machine = {
    cpuModel: os.cpus()[0]?.model ?? "unknown",
    cpuCount: os.cpus().length,
    availableParallelism: os.availableParallelism?.() ?? os.cpus().length,
    totalMemMiB: Math.round(os.totalmem() / 2 ** 20),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    wrangler: JSON.parse(readFileSync(path.join(ROOT, "node_modules/wrangler/package.json"), "utf8")).version,
    miniflare: JSON.parse(readFileSync(createRequire(import.meta.url).resolve("miniflare/package.json"), "utf8")).version,
    autocannon: JSON.parse(readFileSync(path.join(ROOT, "node_modules/autocannon/package.json"), "utf8")).version,
    date: new Date().toISOString(),
  };

  if (CONFIG.profile) {
    const { profileScenarios } = await import("./profile.mjs");
    const profiles = await profileScenarios({
      mf: workers.mf,
      scenarios: scenarios.filter((s) => ["b", "c", "d", "e", "f", "g"].includes(s.id)),
      seconds: CONFIG.profileSec,
      connections: CONFIG.connections,
      cannon,
      outDir: OUT,
      bundleMain: built.main,
      log,
    });
    writeFileSync(path.join(OUT, "profile-summary.json"), `${JSON.stringify({ machine, config: CONFIG, profiles }, null, 2)}\n`);
    log(`profiles written to ${path.relative(ROOT, OUT)}/ (open *.cpuprofile in Chrome DevTools > Performance)`);
    return;
  }

  const perRun = CONFIG.warmupSec + CONFIG.durationSec + 0.3;
  const estimate = (performance.now() - started) / 1000 + scenarios.length * CONFIG.rounds * perRun;
  log(`running ${scenarios.length} scenarios x ${CONFIG.rounds} rounds (~${Math.ceil(estimate)} s total)`);
  if (estimate * 1000 > TIME_BUDGET_MS) log(`warning: that exceeds the ${TIME_BUDGET_MS / 1000} s budget; lower --rounds/--duration`);

  const rounds = [];
  for (let r = 1; r <= CONFIG.rounds; r++) {
    const order = r % 2 === 1 ? scenarios : [...scenarios].reverse();
    for (const s of order) {
      if (interrupted) throw new Error("interrupted");
      const m = await measure(s, origin, pids, r);
      rounds.push({ scenario: s.id, ...m });
      log(
        `round ${r} (${s.id}) ${s.name.padEnd(30)} ${m.rps.toFixed(0).padStart(6)} req/s  p50 ${m.p50.toFixed(2)} ms  p99 ${m.p99.toFixed(2)} ms  non2xx ${m.non2xx}  origin ${m.originHits}  workerd ${m.workerdUsPerReq.toFixed(0)} us/req  foreign CPU ${m.foreignCpuPct.toFixed(0)}%`,
      );
      await sleep(200);
    }
  }

  const { summary, targets } = summarize(scenarios, rounds);
  const rows = scenarios.map((s) => ({ id: s.id, ...summary[s.id] }));
  console.log(
    `\nkeygate bench — ${machine.cpuModel} x${machine.cpuCount}, node ${machine.node}, workerd via miniflare ${machine.miniflare}`,
  );
  console.log(
    `bundle ${(built.rawBytes / 1024).toFixed(1)} KiB raw / ${(built.gzipBytes / 1024).toFixed(1)} KiB gzip; ` +
      `${CONFIG.rounds} rounds x ${CONFIG.durationSec} s, ${CONFIG.connections} connections, ${CONFIG.warmupSec} s warm-up\n`,
  );
  console.log(
    table(rows, [
      { title: "", get: (r) => `(${r.id})` },
      { title: "scenario", get: (r) => r.name, left: true },
      { title: "req/s", get: (r) => r.rpsMean },
      { title: "min..max", get: (r) => `${r.rpsMin}..${r.rpsMax}` },
      { title: "p50 ms", get: (r) => r.p50Ms.toFixed(2) },
      { title: "p99 ms", get: (r) => r.p99Ms.toFixed(2) },
      { title: "non2xx", get: (r) => r.non2xx },
      { title: "x(b)", get: (r) => r.ratioVsB.toFixed(2) },
      { title: "per-round x(b)", get: (r) => `${r.ratioVsBRange[0].toFixed(2)}..${r.ratioVsBRange[1].toFixed(2)}` },
      { title: "p99-(b) ms", get: (r) => (r.p99DeltaVsBMs >= 0 ? "+" : "") + r.p99DeltaVsBMs.toFixed(2) },
      { title: "origin hits", get: (r) => r.originHits },
      { title: "workerd us/req", get: (r) => (r.id === "a" ? "-" : r.workerdUsPerReq.toFixed(0)) },
      {
        title: "-(b)",
        get: (r) => (r.id === "a" ? "-" : (r.workerdUsPerReqDeltaVsB >= 0 ? "+" : "") + r.workerdUsPerReqDeltaVsB.toFixed(0)),
      },
      { title: "foreign CPU", get: (r) => `${r.foreignCpuPct.toFixed(0)}%` },
    ]),
  );
  console.log(
    `\n(h) management create: ${created.stats.count} sequential, p50 ${created.stats.p50Ms} ms, p99 ${created.stats.p99Ms} ms, max ${created.stats.maxMs} ms; revoke ${revokeMs.toFixed(1)} ms\n`,
  );
  console.log(
    table(targets, [
      { title: "target", get: (t) => t.target, left: true },
      { title: "value", get: (t) => t.value, left: true },
      { title: "result", get: (t) => (t.pass ? "PASS" : "FAIL"), left: true },
    ]),
  );
  if (workers.workerdOut.size > 0) {
    console.log("\nworkerd logged (distinct lines, count):");
    for (const [line, n] of [...workers.workerdOut].sort((a, b) => b[1] - a[1]).slice(0, 8))
      console.log(`  ${String(n).padStart(6)}  ${line.slice(0, 220)}`);
  }
  if (built.composition.length) {
    const top = built.composition.slice(0, 6).map((c) => `${c.package} ${(c.bytes / 1024).toFixed(0)} KiB`);
    console.log(`\nbundle by package: ${top.join(", ")}`);
  }

  const results = {
    machine,
    config: {
      ...CONFIG,
      compatibilityDate: config.compatibility_date,
      tenant: TENANT,
      protectedPath: PROTECTED_PATH,
      scopedPath: SCOPED_PATH,
    },
    bundle: {
      files: built.files,
      rawBytes: built.rawBytes,
      gzipBytes: built.gzipBytes,
      buildMs: round(built.buildMs, 0),
      composition: built.composition,
    },
    management: { create: created.stats, revokeMs: round(revokeMs, 3) },
    sanity: sanityResults,
    scenarios: scenarios.map((s) => ({ id: s.id, name: s.name, method: s.method ?? "GET", expect: s.expect })),
    rounds: rounds.map((r) => ({
      ...r,
      rps: round(r.rps, 1),
      p50: round(r.p50, 3),
      p90: round(r.p90, 3),
      p99: round(r.p99, 3),
      max: round(r.max, 3),
      workerdUsPerReq: round(r.workerdUsPerReq, 1),
      originUsPerReq: round(r.originUsPerReq, 1),
      autocannonUsPerReq: round(r.autocannonUsPerReq, 1),
      foreignCpuPct: round(r.foreignCpuPct, 1),
      loadavg1: round(r.loadavg1, 2),
    })),
    summary,
    targets,
    workerdOutput: Object.fromEntries(workers.workerdOut),
    elapsedSec: round((performance.now() - started) / 1000, 1),
  };
  const custom = argv.quick || argv.only || argv.var.length > 0 || argv["strip-hop"];
  const outFile = argv.out ?? path.join(custom ? OUT : BENCH, "results.json");
  writeFileSync(outFile, `${JSON.stringify(results, null, 2)}\n`);
  log(`wrote ${path.relative(ROOT, outFile)}`);
}

main()
  .then(() => cleanup())
  .then(() => {
    if (interrupted) return; // the signal handler exits with 130 once cleanup is done
    log("done; everything stopped");
    process.exit(0);
  })
  .catch(async (err) => {
    if (interrupted) return;
    console.error(err?.stack ?? err);
    await cleanup();
    process.exit(1);
  });
