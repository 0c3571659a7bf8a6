// CPU and memory accounting from /proc (Linux): CPU time of workerd, the origin and this process
// (the load generator) per measured run, how busy the rest of the machine was meanwhile (other
// people's builds on a shared machine), and resident memory.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import os from "node:os";
import { performance } from "node:perf_hooks";

const CLK_TCK = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of all threads of `pid`, in ms; NaN if unknown. */
export function procCpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
  } catch {
    return Number.NaN;
  }
}

/** Busy CPU time of the whole machine (all cores), in ms. */
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

/** Resident set size of `pid` in bytes (VmRSS); NaN if unknown. */
export function rssBytes(pid) {
  try {
    const kib = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kib === undefined ? Number.NaN : Number(kib) * 1024;
  } catch {
    return Number.NaN;
  }
}

/** The pid of a direct child of this process named `comm` (e.g. the workerd miniflare spawned). */
export function findChildPid(comm) {
  try {
    for (const p of readdirSync("/proc")) {
      if (!/^\d+$/.test(p)) continue;
      try {
        const stat = readFileSync(`/proc/${p}/stat`, "utf8");
        const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
        const ppid = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1];
        if (name === comm && ppid === String(process.pid)) return Number(p);
      } catch {}
    }
  } catch {}
  return undefined;
}

/** CPU counters now; `pids` = { workerd, origin } (this process is always included as `bench`). */
export function cpuSnapshot(pids) {
  return {
    at: performance.now(),
    busy: machineBusyMs(),
    workerd: procCpuMs(pids.workerd),
    origin: procCpuMs(pids.origin),
    bench: procCpuMs(process.pid),
  };
}

export function cpuDelta(a, b) {
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
