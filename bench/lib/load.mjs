// Driving autocannon: one load "spec" per scenario ({ url, method, path, headers, perRequest }),
// a warm-up then a measured run with exact latency percentiles, workerd CPU per response, origin
// hits, and the Durable Object round-trip counter the worker may report per response.
import os from "node:os";
import { cpuDelta, cpuSnapshot } from "./cpu.mjs";
import { onCleanup } from "./lifecycle.mjs";
import { percentile, round } from "./stats.mjs";

/**
 * Per response, how many Durable Object round trips serving it took. The worker sets it only when
 * it counts them (see bench/README.md); absent everywhere means "not reported", not zero.
 */

let autocannon;
/** Running autocannon instances (the soak runs one per isolate), stopped first at cleanup. */
const running = new Set();
onCleanup(
  () => {
    for (const inst of running) inst.stop();
  },
  { first: true },
);

export async function loadAutocannon() {
  autocannon ??= (await import("autocannon")).default;
}

/** autocannon's options for a spec: a fixed request, or one whose headers change per request. */
export function cannonOptions(spec, connections) {
  if (!spec.perRequest) return { url: spec.url + spec.path, connections, method: spec.method, headers: spec.headers };
  const next = spec.perRequest;
  return {
    url: spec.url,
    connections,
    requests: [
      {
        method: spec.method,
        path: spec.path,
        headers: spec.headers,
        // One generator shared by all connections, so in-flight requests carry distinct values
        // (a static `requests` array would walk every connection through them in lockstep).
        setupRequest: (req) => {
          req.headers = { ...req.headers, ...next() };
          return req;
        },
      },
    ],
  };
}

/** Runs autocannon once; `latencies` collects every response time, `onHeaders` sees raw headers. */
export function cannon(opts, { latencies, onHeaders } = {}) {
  return new Promise((resolve, reject) => {
    const setupClient = onHeaders ? (client) => client.on("headers", (h) => onHeaders(h.headers)) : undefined;
    const inst = autocannon({ timeout: 10, excludeErrorStats: false, ...opts, ...(setupClient ? { setupClient } : {}) }, (err, res) => {
      running.delete(inst);
      if (err) reject(err);
      else resolve(res);
    });
    running.add(inst);
    if (latencies) inst.on("response", (_client, _status, _bytes, ms) => latencies.push(ms));
  });
}

/** Durable Object round trips the worker's isolate has made so far (its rate-limit counter leases). */
/** The isolate's I/O round trips so far: Durable Object leases, KV reads of edge records, D1 feed queries. */
export function ioOf(counters) {
  if (counters === undefined) return undefined;
  const kv = counters["edge-record-reads"] ?? {};
  return {
    do: counters["rate-limit-counter"]?.leases ?? 0,
    kv: (kv.manifestReads ?? 0) + (kv.shardReads ?? 0),
    d1: counters["edge-feed"]?.queries ?? 0,
  };
}

async function doCalls(spec) {
  return ioOf(await spec.counters?.());
}

/** Warm-up then measured run of one spec. */
export async function measure(spec, { origin, pids, roundNo, warmupSec, durationSec, connections }) {
  const base = cannonOptions(spec, connections);
  const before = await origin.count();
  await cannon({ ...base, duration: warmupSec });
  const mid = await origin.count();
  const latencies = [];
  const calls0 = await doCalls(spec);
  const cpu0 = cpuSnapshot(pids);
  const res = await cannon({ ...base, duration: durationSec }, { latencies });
  const cpu = cpuDelta(cpu0, cpuSnapshot(pids));
  const calls1 = await doCalls(spec);
  const after = await origin.count();
  latencies.sort((a, b) => a - b);
  const measuredSec = res.duration ?? durationSec;
  const responses = latencies.length;
  const statusCodes = Object.fromEntries(Object.entries(res.statusCodeStats ?? {}).map(([k, v]) => [k, v.count]));
  return {
    round: roundNo,
    rps: responses / measuredSec,
    p50: percentile(latencies, 50),
    p90: percentile(latencies, 90),
    p99: percentile(latencies, 99),
    max: latencies[latencies.length - 1],
    responses,
    non2xx: res.non2xx,
    statusCodes,
    errors: res.errors,
    timeouts: res.timeouts,
    workerdUsPerReq: (cpu.workerdMs * 1000) / Math.max(1, responses),
    originUsPerReq: (cpu.originMs * 1000) / Math.max(1, responses),
    autocannonUsPerReq: (cpu.benchMs * 1000) / Math.max(1, responses),
    foreignCpuPct: cpu.foreignPct,
    loadavg1: os.loadavg()[0],
    originHits: after - mid,
    originHitsWarmup: mid - before,
    durationSec: round(measuredSec, 3),
    // null: the isolate exposes no counters (or the spec runs on no keygate worker).
    doCalls: calls0 !== undefined && calls1 !== undefined ? { responses, calls: calls1.do - calls0.do } : null,
    io:
      calls0 !== undefined && calls1 !== undefined
        ? { responses, do: calls1.do - calls0.do, kv: calls1.kv - calls0.kv, d1: calls1.d1 - calls0.d1 }
        : null,
    autocannon: { rpsAvg: res.requests.average, p50: res.latency.p50, p99: res.latency.p99 },
  };
}

/** Sends each of `count` requests of the spec once (its perRequest generator advances). */
export async function prime(spec, count, connections) {
  const res = await cannon({ ...cannonOptions(spec, Math.min(connections, count)), amount: count });
  const statusCodes = Object.fromEntries(Object.entries(res.statusCodeStats ?? {}).map(([k, v]) => [k, v.count]));
  return { requests: res.requests.total, durationSec: res.duration, statusCodes, errors: res.errors + res.timeouts };
}

/** One request of the spec; throws unless its status is one the spec expects. */
export async function sanity(spec) {
  const headers = { ...spec.headers, ...(spec.perRequest?.() ?? {}) };
  const res = await fetch(spec.url + spec.path, { method: spec.method, headers });
  const text = await res.text();
  if (!spec.expect.statuses.includes(res.status)) {
    throw new Error(
      `sanity check of (${spec.id}) ${spec.name}: expected ${spec.expect.statuses.join(" or ")}, got ${res.status} ${text.slice(0, 300)}`,
    );
  }
  return { status: res.status, body: text.slice(0, 200) };
}
