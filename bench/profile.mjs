// `npm run bench -- --profile`: samples keygate's (and the pass-through's) isolate in workerd with V8's CPU profiler
// (Chrome DevTools protocol over miniflare's inspector socket) while autocannon drives one
// scenario at a time. Writes bench/out/profile-<scenario>.cpuprofile (open in Chrome DevTools >
// Performance, or VS Code) and summarizes self time by package and by function, mapped back
// through the bundle's source map to src/ and node_modules/ files.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { devtools } from "./lib/inspector.mjs";
import { cannonOptions } from "./lib/load.mjs";
import { decodeMappings, originalNameFor, originalPositionFor, packageOf, shortSource } from "./sourcemap.mjs";

// Coarser than DevTools' default 100 us: the profiler's own overhead inflates per-request costs.
const SAMPLING_INTERVAL_US = 250;
/**
 * keygate functions whose inclusive time is worth seeing on its own (names as in src/; a name the
 * gateway no longer has simply does not show up).
 */
const WATCH = [
  "fetch",
  "requestTarget",
  "isControlPlanePath",
  "handleGateway",
  "decide",
  "authenticate",
  "cachedVerification",
  "verifyAndCache",
  "verifyApiKey",
  "jwtVerify",
  "cachedEdgeState",
  "fetchEdgeState",
  "recordUse",
  "forward",
  "upstreamHeaders",
  "matchPolicy",
  "normalizePath",
  "readBearer",
  "refusal",
  "toErrorResponse",
  "gatewayConfig",
  "cachedEdgeView",
  "knownEdgeView",
  "readEdgeView",
  "decideFromLease",
  "decideWithCounter",
  "recordUsage",
  "usageSink",
  "forwardAccepted",
  "withHeaders",
  "consume",
  "rollUp",
];

/** `class X` / `function X` declared on the original source line (minified classes keep no name). */
function declaredName(map, pos) {
  const text = map.sourcesContent?.[map.sources.indexOf(pos.source)];
  if (!text) return undefined;
  const lines = text.split("\n");
  const line = lines[pos.line - 1] ?? "";
  const declared = /\b(?:class|function\*?)\s+([A-Za-z_$][\w$]*)/.exec(line)?.[1];
  if (declared || !/\bconstructor\s*\(/.test(line)) return declared;
  // A class constructor: name it after the nearest enclosing `class X`.
  for (let i = pos.line - 2; i >= Math.max(0, pos.line - 40); i--) {
    const cls = /\bclass\s+([A-Za-z_$][\w$]*)/.exec(lines[i] ?? "")?.[1];
    if (cls) return `new ${cls}`;
  }
  return undefined;
}

function summarize(profile, sourceMap, decoded, bundleName, requests) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const label = new Map();
  const where = (n) => {
    if (label.has(n.id)) return label.get(n.id);
    const cf = n.callFrame;
    let out;
    if (cf.url && (cf.url.endsWith(bundleName) || cf.url.endsWith(`/${bundleName}`)) && decoded) {
      const pos = originalPositionFor(decoded, sourceMap, cf.lineNumber, cf.columnNumber);
      const name =
        originalNameFor(decoded, sourceMap, cf.lineNumber, cf.columnNumber, cf.functionName) ??
        (pos && declaredName(sourceMap, pos)) ??
        cf.functionName;
      out = pos
        ? { pkg: packageOf(pos.source), name, fn: `${name || "(anonymous)"} ${shortSource(pos.source)}:${pos.line}` }
        : { pkg: "bundle (unmapped)", name, fn: name || "(anonymous)" };
    } else if (cf.url.endsWith("passthrough.mjs")) {
      out = { pkg: "pass-through script", name: cf.functionName, fn: `${cf.functionName} (pass-through script)` };
    } else if (cf.url) {
      out = { pkg: "runtime JS", name: cf.functionName, fn: `${cf.functionName || "(anonymous)"} ${cf.url}` };
    } else {
      // (program) = native work outside JS (workerd's C++: HTTP, I/O, crypto); (idle) = waiting.
      out = { pkg: cf.functionName.startsWith("(") ? cf.functionName : "native", name: cf.functionName, fn: cf.functionName || "(native)" };
    }
    label.set(n.id, out);
    return out;
  };
  const byPkg = new Map();
  const byFn = new Map();
  let total = 0;
  let idle = 0;
  for (const [id, us] of self) {
    const n = nodes.get(id);
    const w = where(n);
    total += us;
    if (n.callFrame.functionName === "(idle)") idle += us;
    byPkg.set(w.pkg, (byPkg.get(w.pkg) ?? 0) + us);
    byFn.set(w.fn, (byFn.get(w.fn) ?? 0) + us);
  }
  // Inclusive time of watched functions (each sample counted once per function).
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inclusive = new Map();
  for (const [id, us] of self) {
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const w = where(nodes.get(cur));
      if (w.pkg !== "keygate (src/)" && w.pkg !== "jose") continue;
      const name = w.name === "fetch" ? "worker fetch (whole request)" : w.name;
      if (WATCH.includes(w.name) && !seen.has(name)) {
        seen.add(name);
        inclusive.set(name, (inclusive.get(name) ?? 0) + us);
      }
    }
  }
  const busy = total - idle;
  const perReq = (us) => (requests > 0 ? us / requests : Number.NaN);
  const rows = (m) =>
    [...m.entries()]
      .filter(([k]) => k !== "(idle)")
      .sort((a, b) => b[1] - a[1])
      .map(([name, us]) => ({ name, pctOfBusy: Number(((us / busy) * 100).toFixed(1)), usPerReq: Number(perReq(us).toFixed(2)) }));
  return {
    sampledMs: Number((total / 1000).toFixed(1)),
    busyMs: Number((busy / 1000).toFixed(1)),
    requests,
    busyUsPerReq: Number(perReq(busy).toFixed(1)),
    byPackage: rows(byPkg),
    topFunctions: rows(byFn).slice(0, 30),
    inclusive: rows(inclusive),
  };
}

export async function profileScenarios({ mf, scenarios, seconds, connections, cannon, outDir, bundleMain, log }) {
  let sourceMap = null;
  let decoded = null;
  try {
    sourceMap = JSON.parse(readFileSync(`${bundleMain}.map`, "utf8"));
    decoded = decodeMappings(sourceMap.mappings);
  } catch {
    log("no source map next to the bundle; functions stay unmapped");
  }
  const bundleName = path.basename(bundleMain);
  const sessions = new Map();
  const results = {};
  try {
    for (const s of scenarios) {
      const worker = s.worker ?? "keygate";
      if (!sessions.has(worker)) {
        const session = await devtools(mf, worker);
        sessions.set(worker, session);
        await session.send("Profiler.enable");
        await session.send("Profiler.setSamplingInterval", { interval: SAMPLING_INTERVAL_US });
      }
      const dt = sessions.get(worker);
      const base = cannonOptions(s, connections);
      await cannon({ ...base, duration: 1 }); // warm caches and JIT outside the profile
      await dt.send("Profiler.start");
      const res = await cannon({ ...base, duration: seconds });
      const { profile } = await dt.send("Profiler.stop");
      const file = path.join(outDir, `profile-${s.id}.cpuprofile`);
      writeFileSync(file, JSON.stringify(profile));
      const requests = res.requests.total;
      const sum = summarize(profile, sourceMap, decoded, bundleName, requests);
      results[s.id] = { name: s.name, worker, file: path.basename(file), rps: Math.round(requests / res.duration), ...sum };
      log(`profiled (${s.id}) ${s.name}: ${results[s.id].rps} req/s, isolate busy ${sum.busyUsPerReq} us/req`);
    }
  } finally {
    for (const dt of sessions.values()) {
      await dt.send("Profiler.disable").catch(() => {});
      dt.close();
    }
  }

  // Console report: per scenario, where the isolate's time goes.
  for (const [id, r] of Object.entries(results)) {
    console.log(`\n(${id}) ${r.name}: ${r.rps} req/s, isolate thread busy ${r.busyUsPerReq} us/req (sampled ${r.sampledMs} ms)`);
    console.log(`  by package : ${r.byPackage.map((p) => `${p.name} ${p.usPerReq}us`).join(", ")}`);
    console.log(`  inclusive  : ${r.inclusive.map((p) => `${p.name} ${p.usPerReq}us`).join(", ")}`);
    console.log("  top self time:");
    for (const f of r.topFunctions.slice(0, 25))
      console.log(`    ${String(f.usPerReq).padStart(7)} us/req  ${String(f.pctOfBusy).padStart(5)}%  ${f.name}`);
  }
  return results;
}
