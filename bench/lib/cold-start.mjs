// Row (q) of `npm run bench`: the first request of a fresh isolate. workerd is started `starts`
// times on one persisted D1 and KV (migrations applied and the edge-record snapshot built by the
// reconciler once, before the first measured start); each time, the pass-through's first request
// and keygate's first request (a valid key minted for it: one no isolate has seen) are timed from
// the client, in alternating order, then keygate's second request for reference. keygate's
// counters after its first request give that request's I/O round trips (KV reads, D1 queries).
import { mkdtempSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { isolateCounters } from "./inspector.mjs";
import { ioOf } from "./load.mjs";
import { OUT } from "./processes.mjs";
import { percentile, round } from "./stats.mjs";
import { applyMigrations, startWorkerd } from "./workerd.mjs";

async function timed(url, headers) {
  const t0 = performance.now();
  const res = await fetch(url, { headers });
  await res.arrayBuffer();
  return { ms: performance.now() - t0, status: res.status };
}

export async function measureColdStarts({ miniflare, bundleMain, config, secrets, originUrl, starts, tokens, path: reqPath, log }) {
  const persistRoot = mkdtempSync(path.join(OUT, "cold-state-"));
  const start = () =>
    startWorkerd({
      miniflare,
      bundleMain,
      config,
      secrets,
      originUrl,
      keygates: [{ name: "keygate", vars: {} }],
      inspector: true,
      consumeQueues: false,
      persistRoot,
    });
  // Setup: the schema, and a snapshot in KV as the cron would have left it.
  const setup = await start();
  await applyMigrations(setup.mf, config.migrations, "keygate");
  await (await setup.mf.getWorker("keygate")).scheduled({ cron: "*/5 * * * *" });
  await setup.mf.dispose();

  const runs = [];
  for (let i = 0; i < starts; i++) {
    const w = await start();
    try {
      const keygate = `${w.urls.keygate}${reqPath}`;
      const pass = `${w.urls.passthrough}${reqPath}`;
      const headers = { authorization: `Bearer ${tokens[i]}` };
      const run = { start: i + 1 };
      if (i % 2 === 0) {
        run.passthrough = await timed(pass, headers);
        run.keygate = await timed(keygate, headers);
      } else {
        run.keygate = await timed(keygate, headers);
        run.passthrough = await timed(pass, headers);
      }
      const counters = await isolateCounters(w.mf, "keygate");
      run.io = ioOf(counters);
      run.firstReads = counters?.["edge-first-reads"] ?? null;
      run.keygateSecond = await timed(keygate, { authorization: `Bearer ${tokens[starts + i]}` });
      run.passthroughSecond = await timed(pass, headers);
      if (run.keygate.status !== 200 || run.passthrough.status !== 200) throw new Error(`cold start ${i + 1}: ${JSON.stringify(run)}`);
      runs.push(run);
      log(
        `(q) start ${i + 1}/${starts}: pass-through first ${run.passthrough.ms.toFixed(1)} ms, keygate first ${run.keygate.ms.toFixed(1)} ms (KV ${run.io?.kv}, D1 ${run.io?.d1}; manifest + first poll ${run.firstReads?.manifestAndPollMs} ms, shard ${run.firstReads?.shardMs} ms), then ${run.keygateSecond.ms.toFixed(1)} ms`,
      );
    } finally {
      await w.mf.dispose();
    }
  }
  const stat = (get) => {
    const xs = runs.map(get).sort((a, b) => a - b);
    return { median: round(percentile(xs, 50), 2), worst: round(xs[xs.length - 1], 2) };
  };
  return {
    starts,
    passthroughFirstMs: stat((r) => r.passthrough.ms),
    keygateFirstMs: stat((r) => r.keygate.ms),
    keygateOverPassthroughMs: stat((r) => r.keygate.ms - r.passthrough.ms),
    keygateSecondMs: stat((r) => r.keygateSecond.ms),
    passthroughSecondMs: stat((r) => r.passthroughSecond.ms),
    firstRequestIo: { kv: stat((r) => r.io?.kv ?? Number.NaN), d1: stat((r) => r.io?.d1 ?? Number.NaN) },
    // Inside the isolate: the manifest read with the feed's first poll, then the key's shard (-1: none).
    manifestAndPollMs: stat((r) => r.firstReads?.manifestAndPollMs ?? Number.NaN),
    shardMs: stat((r) => r.firstReads?.shardMs ?? Number.NaN),
    runs: runs.map((r) => ({
      ...r,
      passthrough: round(r.passthrough.ms, 2),
      keygate: round(r.keygate.ms, 2),
      keygateSecond: round(r.keygateSecond.ms, 2),
      passthroughSecond: round(r.passthroughSecond.ms, 2),
    })),
  };
}
