// Targets a scenario can carry: each names itself for the report and checks the scenario's
// summary, possibly against another scenario's (always the same run: ratios, not absolutes).
// `pass: null` means it could not be judged (the scenario it compares against did not run).

const signed = (x, digits = 2) => `${x >= 0 ? "+" : ""}${x.toFixed(digits)}`;

function against(ref, all, check) {
  const r = all[ref];
  if (!r) return { pass: null, value: `(${ref}) not run` };
  return check(r);
}

/** req/s at least `ratio` times the pass-through's. */
export const throughputAtLeast = (ratio) => ({
  name: (id) => `(${id}) >= ${ratio}x (b) req/s`,
  check: (s) => ({ pass: s.ratioVsB >= ratio, value: `${s.ratioVsB}x` }),
});

/** p99 at most `ms` above the pass-through's. */
export const p99AtMostAboveB = (ms) => ({
  name: (id) => `(${id}) p99 <= (b) p99 + ${ms} ms`,
  check: (s) => ({ pass: s.p99DeltaVsBMs <= ms, value: `${signed(s.p99DeltaVsBMs, 3)} ms` }),
});

/** workerd CPU per response at most `pct` % above scenario `ref`'s. */
export const cpuWithinPctOf = (ref, pct) => ({
  name: (id) => `(${id}) workerd us/req <= (${ref}) + ${pct}%`,
  check: (s, all) =>
    against(ref, all, (r) => {
      const delta = ((s.workerdUsPerReq - r.workerdUsPerReq) / r.workerdUsPerReq) * 100;
      return { pass: delta <= pct, value: `${signed(delta, 1)}% (${s.workerdUsPerReq} vs ${r.workerdUsPerReq} us)` };
    }),
});

/** workerd CPU per response at most `us` microseconds above scenario `ref`'s. */
export const cpuAtMostAbove = (ref, us) => ({
  name: (id) => `(${id}) workerd us/req <= (${ref}) + ${us} us`,
  check: (s, all) =>
    against(ref, all, (r) => {
      const delta = s.workerdUsPerReq - r.workerdUsPerReq;
      return { pass: delta <= us, value: `${signed(delta, 1)} us` };
    }),
});

/** I/O round trips of `kind` ("kv", "d1", "do") per 1,000 requests at most `n`. */
export const ioPer1kAtMost = (kind, n) => ({
  name: (id) => `(${id}) ${kind.toUpperCase()} round trips per 1,000 requests <= ${n}`,
  check: (s) =>
    s.ioPer1k === null ? { pass: null, value: "not reported" } : { pass: s.ioPer1k[kind] <= n, value: String(s.ioPer1k[kind]) },
});

/** workerd CPU per response below scenario `ref`'s (a refusal cheaper than a forward). */
export const cpuBelow = (ref) => ({
  name: (id) => `(${id}) workerd us/req < (${ref})`,
  check: (s, all) =>
    against(ref, all, (r) => ({ pass: s.workerdUsPerReq < r.workerdUsPerReq, value: `${s.workerdUsPerReq} vs ${r.workerdUsPerReq} us` })),
});

/** Built from a scenario's `expect`: no refused request reaches the origin. */
export const noOriginHits = () => ({
  name: (id) => `(${id}) zero origin hits`,
  check: (s) => ({ pass: s.originHits === 0, value: String(s.originHits) }),
});

/** Built from a scenario's `expect`: every response has one of the expected statuses. */
export const everyResponseIs = (statuses) => ({
  name: (id) => `(${id}) every response is ${statuses.join(" or ")}`,
  check: (s) => {
    const expected = statuses.reduce((a, code) => a + (s.statusCodes[code] ?? 0), 0);
    return {
      pass: expected === s.responses && s.errors === 0,
      value: JSON.stringify(s.statusCodes) + (s.errors ? ` +${s.errors} errors` : ""),
    };
  },
});
