// What the soak prints at the end and what it writes to soak-results.json.
import os from "node:os";
import { toolVersions } from "../lib/cli.mjs";
import { table } from "../lib/report.mjs";
import { round } from "../lib/stats.mjs";
import { mib } from "./checks.mjs";
import { ISOLATES, PRIMARY, SLACK_MS } from "./constants.mjs";
import { TRAFFIC } from "./traffic.mjs";

/** Prints the traffic, management, propagation, heap and cache summaries and the checks. */
export function printReport({ t, soakSec, poolSize, management, state, samples, last, workerd, judged, pass }) {
  console.log(
    `\nkeygate soak — ${round(soakSec, 0)} s, ${t.requests} requests (${Math.round(t.requests / soakSec)}/s) over 2 isolates, ${poolSize} pool keys`,
  );
  console.log(
    table(
      Object.entries(t.byKind).map(([kind, k]) => ({ kind, ...k })),
      [
        { title: "traffic", get: (r) => r.kind, left: true },
        { title: "requests", get: (r) => r.requests },
        { title: "by status", get: (r) => JSON.stringify(r.byStatus), left: true },
      ],
    ),
  );
  console.log(`\nall requests by status: ${JSON.stringify(t.byStatus)}`);
  console.log(
    `management: ${JSON.stringify(management.ops)}; by status ${JSON.stringify(management.byStatus)}; ${state.created} created during the soak`,
  );
  console.log(
    `revocation propagation: requests accepted after a key's cut-off ${JSON.stringify(t.acceptedAfterChange)}, ` +
      `the latest ${JSON.stringify(t.maxAcceptedLagMs)} ms after it (bound: immediate on ${PRIMARY}, ${state.ttlMs / 1000} s on ${ISOLATES[1]}, each + ${SLACK_MS / 1000} s)`,
  );
  const heapRow = (name) => {
    const hs = samples.map((s) => s.isolates[name].heapUsedBytes);
    return `${name}: heap after GC first ${mib(hs[0])} MiB, last ${mib(hs.at(-1))} MiB, max ${mib(Math.max(...hs))} MiB`;
  };
  for (const name of ISOLATES) console.log(heapRow(name));
  const rss = samples.map((s) => s.workerdRssBytes);
  console.log(
    `workerd RSS (reference: mostly the runtime): first ${mib(rss[0])} MiB, last ${mib(rss.at(-1))} MiB, max ${mib(Math.max(...rss))} MiB`,
  );
  for (const name of ISOLATES) {
    if (last.isolates[name].caches)
      console.log(
        `${name} caches at the end: ${Object.entries(last.isolates[name].caches)
          .map(([c, v]) => `${c} ${v.size}/${v.max}`)
          .join(", ")}`,
      );
  }
  if (t.wrongExamples.length) {
    console.log("\nwrong answers (first ones):");
    for (const w of t.wrongExamples.slice(0, 10)) console.log(`  ${JSON.stringify(w)}`);
  }
  if (management.errorExamples.length) {
    console.log("\nunexpected management answers (first ones):");
    for (const e of management.errorExamples.slice(0, 10)) console.log(`  ${JSON.stringify(e)}`);
  }
  if (workerd.workerdOut.size > 0) {
    console.log("\nworkerd logged (distinct lines, count):");
    for (const [line, n] of [...workerd.workerdOut].sort((a, b) => b[1] - a[1]).slice(0, 8))
      console.log(`  ${String(n).padStart(6)}  ${line.slice(0, 220)}`);
  }
  console.log("");
  console.log(
    table(judged, [
      { title: "check", get: (c) => c.check, left: true },
      { title: "value", get: (c) => c.value, left: true },
      { title: "result", get: (c) => (c.pass === null ? "n/a" : c.pass ? "PASS" : "FAIL"), left: true },
    ]),
  );
  console.log(`\nsoak: ${pass ? "PASS" : "FAIL"}`);
}

/** The soak-results.json document. */
export function resultsDocument({ CONFIG, poolSize, state, created, primedSec, soakSec, t, management, samples, judged, pass, workerd }) {
  const machine = {
    cpuModel: os.cpus()[0]?.model ?? "unknown",
    cpuCount: os.cpus().length,
    node: process.version,
    ...toolVersions(),
    loadavg: os.loadavg().map((x) => round(x, 2)),
    date: new Date().toISOString(),
  };
  const out = {
    machine,
    config: {
      ...CONFIG,
      poolKeys: poolSize,
      isolates: ISOLATES,
      revocationCacheTtlSeconds: state.ttlMs / 1000,
      traffic: TRAFFIC.map((k) => ({ kind: k.kind, weight: k.weight })),
    },
    setup: {
      createdKeys: poolSize,
      createSec: round(created.concurrent.totalMs / 1000, 1),
      createsPerSec: created.concurrent.perSec,
      primedSec,
    },
    soakSec: round(soakSec, 1),
    requests: { total: t.requests, perSec: round(t.requests / soakSec, 0), byStatus: t.byStatus, byKind: t.byKind },
    errors: { serverErrors: t.serverErrors, transportErrors: t.transportErrors },
    wrongAnswers: { total: t.wrong, byReason: t.wrongByReason, examples: t.wrongExamples },
    revocationPropagation: {
      acceptedAfterChange: t.acceptedAfterChange,
      maxAcceptedLagMs: t.maxAcceptedLagMs,
      boundMs: { [PRIMARY]: SLACK_MS, [ISOLATES[1]]: state.ttlMs + SLACK_MS },
    },
    management: { ...management, createdDuringSoak: state.created },
    samples,
    checks: judged,
    pass,
    workerdOutput: Object.fromEntries(workerd.workerdOut),
  };
  return out;
}
