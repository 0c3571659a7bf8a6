// Samples (each isolate's heap after a forced collection, its caches' sizes, workerd's RSS) and the
// checks that decide PASS or FAIL.
import { rssBytes } from "../lib/cpu.mjs";
import { cacheSizes, heapAfterGc } from "../lib/inspector.mjs";
import { round } from "../lib/stats.mjs";
import { ISOLATES } from "./constants.mjs";

/** Heap after GC may vary by this much after warm-up (max / min - 1). */
const HEAP_FLAT_PCT = 10;

export async function sample(sessions, workerdPid, t0) {
  const isolates = {};
  for (const [name, { session, nudge }] of Object.entries(sessions)) {
    const heap = await heapAfterGc(session, nudge);
    isolates[name] = { heapUsedBytes: heap.usedBytes, heapTotalBytes: heap.totalBytes, caches: await cacheSizes(session, nudge) };
  }
  return { t: round((Date.now() - t0) / 1000, 1), isolates, workerdRssBytes: rssBytes(workerdPid) };
}

export const mib = (b) => (b / 2 ** 20).toFixed(2);

export function checks(samples, warmupSec, t, mgmt) {
  const out = [];
  out.push({
    check: "no 5xx and no transport errors",
    pass: t.serverErrors === 0 && t.transportErrors === 0,
    value: `${t.serverErrors} 5xx, ${t.transportErrors} errors/timeouts`,
  });
  out.push({
    check: "no wrong answers",
    pass: t.wrong === 0,
    value:
      t.wrong === 0
        ? "0"
        : `${t.wrong}: ${Object.entries(t.wrongByReason)
            .map(([r, n]) => `${n}x ${r}`)
            .join("; ")}`,
  });
  out.push({
    check: "management answered as expected",
    pass: mgmt.errors === 0,
    value: `${mgmt.errors} unexpected of ${Object.values(mgmt.ops).reduce((a, b) => a + b, 0)}`,
  });
  const after = samples.filter((s) => s.t >= warmupSec);
  for (const name of ISOLATES) {
    const heaps = after.map((s) => s.isolates[name].heapUsedBytes);
    if (heaps.length < 2) {
      out.push({
        check: `${name}: heap after GC flat after warm-up`,
        pass: null,
        value: `only ${heaps.length} sample(s) after ${warmupSec} s warm-up`,
      });
    } else {
      const spread = (Math.max(...heaps) / Math.min(...heaps) - 1) * 100;
      out.push({
        check: `${name}: heap after GC flat after warm-up (<= ${HEAP_FLAT_PCT}%)`,
        pass: spread <= HEAP_FLAT_PCT,
        value: `${spread.toFixed(1)}% (first ${mib(heaps[0])} MiB, last ${mib(heaps.at(-1))} MiB, max ${mib(Math.max(...heaps))} MiB)`,
      });
    }
    const over = [];
    for (const s of samples) {
      for (const [cache, { size, max }] of Object.entries(s.isolates[name].caches ?? {}))
        if (size > max) over.push(`${cache} ${size}/${max} at ${s.t} s`);
    }
    const hasCaches = samples.some((s) => s.isolates[name].caches);
    out.push({
      check: `${name}: every cache within its bound`,
      pass: hasCaches ? over.length === 0 : null,
      value: hasCaches ? (over.length ? over.slice(0, 3).join("; ") : "yes, in every sample") : "the worker exposes no cache sizes",
    });
  }
  return out;
}
