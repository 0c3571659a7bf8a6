// The bench's report: per-scenario summaries over rounds (relative to the pass-through (b) of the
// same run), the targets each scenario carries plus the ones its `expect` implies, and the tables.
import { mean, round } from "./stats.mjs";
import { everyResponseIs, noOriginHits } from "./targets.mjs";

/** Per scenario: means over rounds, paired ratios against (b), status codes, origin hits, DO calls. */
export function summarize(specs, rounds) {
  const byId = Object.fromEntries(specs.map((s) => [s.id, rounds.filter((r) => r.scenario === s.id)]));
  const b = byId.b ?? [];
  const bRps = mean(b.map((r) => r.rps));
  const bP99 = mean(b.map((r) => r.p99));
  const bCpu = mean(b.map((r) => r.workerdUsPerReq));
  const summary = {};
  for (const s of specs) {
    const rs = byId[s.id];
    const rps = rs.map((r) => r.rps);
    // Paired by round: each round's ratio against the same round's baseline shows the noise.
    const pairedRatios = rs.map((r) => r.rps / (b.find((x) => x.round === r.round)?.rps ?? bRps));
    const statusCodes = rs.reduce((acc, r) => {
      for (const [k, v] of Object.entries(r.statusCodes)) acc[k] = (acc[k] ?? 0) + v;
      return acc;
    }, {});
    const accepted = Object.entries(statusCodes).reduce((a, [code, n]) => a + (Number(code) < 300 ? n : 0), 0);
    const reported = rs.filter((r) => r.doCalls);
    const doCalls = reported.reduce((a, r) => a + r.doCalls.calls, 0);
    const withIo = rs.filter((r) => r.io);
    const ioResponses = withIo.reduce((a, r) => a + r.io.responses, 0);
    const ioPer1k = (k) => (ioResponses === 0 ? null : round((withIo.reduce((a, r) => a + r.io[k], 0) * 1000) / ioResponses, 2));
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
      statusCodes,
      originHits: rs.reduce((a, r) => a + r.originHits + r.originHitsWarmup, 0),
      ratioVsB: round(mean(rps) / bRps, 3),
      ratioVsBRange: [round(Math.min(...pairedRatios), 3), round(Math.max(...pairedRatios), 3)],
      p99DeltaVsBMs: round(mean(rs.map((r) => r.p99)) - bP99, 3),
      workerdUsPerReq: round(mean(rs.map((r) => r.workerdUsPerReq)), 1),
      workerdUsPerReqDeltaVsB: round(mean(rs.map((r) => r.workerdUsPerReq)) - bCpu, 1),
      originUsPerReq: round(mean(rs.map((r) => r.originUsPerReq)), 1),
      autocannonUsPerReq: round(mean(rs.map((r) => r.autocannonUsPerReq)), 1),
      foreignCpuPct: round(mean(rs.map((r) => r.foreignCpuPct)), 1),
      // Durable Object round trips per 1,000 accepted (2xx) responses, from DO_CALLS_HEADER;
      // null when the worker did not report them.
      doCallsPer1kAccepted: reported.length === 0 ? null : accepted === 0 ? null : round((doCalls * 1000) / accepted, 2),
      doCalls: reported.length === 0 ? null : doCalls,
      // I/O round trips per 1,000 requests, over all responses: KV reads of edge records, D1 feed queries, Durable Object leases.
      ioPer1k: withIo.length === 0 ? null : { kv: ioPer1k("kv"), d1: ioPer1k("d1"), do: ioPer1k("do") },
    };
  }
  return summary;
}

/** The targets of each spec (its own, then those its `expect` implies), judged. */
export function judge(specs, summary) {
  const out = [];
  for (const s of specs) {
    const sum = summary[s.id];
    if (!sum) continue;
    const implied =
      s.via === "keygate" || s.via === "entry"
        ? [...(s.expect.origin === "never" ? [noOriginHits()] : []), everyResponseIs(s.expect.statuses)]
        : [];
    for (const t of [...s.targets, ...implied]) {
      const { pass, value } = t.check(sum, summary);
      out.push({ id: s.id, target: t.name(s.id), pass, value });
    }
  }
  return out;
}

export function table(rows, columns) {
  const widths = columns.map((c) => Math.max(c.title.length, ...rows.map((r) => String(c.get(r)).length)));
  const line = (cells) => cells.map((s, i) => (columns[i].left ? String(s).padEnd(widths[i]) : String(s).padStart(widths[i]))).join("  ");
  return [
    line(columns.map((c) => c.title)),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...rows.map((r) => line(columns.map((c) => c.get(r)))),
  ].join("\n");
}

const signed0 = (x) => (x >= 0 ? "+" : "") + x.toFixed(0);

/** The scenario table (same columns as ever: add a column here, not per scenario). */
export function scenarioTable(specs, summary) {
  const rows = specs.map((s) => ({ id: s.id, via: s.via, ...summary[s.id] }));
  const noWorker = (r) => r.via === "origin";
  return table(rows, [
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
    { title: "workerd us/req", get: (r) => (noWorker(r) ? "-" : r.workerdUsPerReq.toFixed(0)) },
    { title: "-(b)", get: (r) => (noWorker(r) ? "-" : signed0(r.workerdUsPerReqDeltaVsB)) },
    { title: "foreign CPU", get: (r) => `${r.foreignCpuPct.toFixed(0)}%` },
  ]);
}

/** One line: Durable Object round trips per 1,000 accepted requests, or why there are none. */
export function doCallsLine(specs, summary) {
  const reported = specs.filter((s) => summary[s.id]?.doCalls !== null && summary[s.id]?.doCalls !== undefined);
  if (reported.length === 0)
    return "Durable Object round trips per 1,000 accepted requests: not reported (the isolates expose no counters)";
  const parts = reported.map((s) => `(${s.id}) ${summary[s.id].doCallsPer1kAccepted ?? "- (none accepted)"}`);
  return `Durable Object round trips per 1,000 accepted requests: ${parts.join(", ")}`;
}

/** One line: I/O round trips per 1,000 requests (KV, D1, Durable Objects) of each keygate scenario. */
export function ioLine(specs, summary) {
  const reported = specs.filter((s) => summary[s.id]?.ioPer1k);
  if (reported.length === 0) return "I/O round trips per 1,000 requests: not reported";
  const parts = reported.map((s) => {
    const io = summary[s.id].ioPer1k;
    return `(${s.id}) KV ${io.kv}, D1 ${io.d1}, DO ${io.do}`;
  });
  return `I/O round trips per 1,000 requests (KV reads, D1 queries, Durable Object calls): ${parts.join("; ")}`;
}

export function targetTable(targets) {
  return table(targets, [
    { title: "target", get: (t) => t.target, left: true },
    { title: "value", get: (t) => t.value, left: true },
    { title: "result", get: (t) => (t.pass === null ? "n/a" : t.pass ? "PASS" : "FAIL"), left: true },
  ]);
}
