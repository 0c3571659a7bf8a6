// Child processes of a bench or soak run: commands in their own process group (so stopping one
// also stops what it started, e.g. wrangler's esbuild), the Node origin (bench/origin.mjs), and
// leftovers of runs that were killed outright.
import { fork, spawn } from "node:child_process";
import { readdirSync, rmSync } from "node:fs";
import path from "node:path";
import { onCleanup } from "./lifecycle.mjs";

export const ROOT = path.resolve(import.meta.dirname, "..", "..");
export const BENCH = path.join(ROOT, "bench");
export const OUT = path.join(BENCH, "out");

/** Runs a command to completion; resolves with its stdout and stderr. */
export function runProcess(cmd, args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    onCleanup(() => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        child.kill("SIGTERM");
      }
    });
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(" ")} exited ${code}:\n${out}`))));
  });
}

export function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === "EPERM";
  }
}

/** Removes `<prefix>-<pid>` entries of `dir` whose process is gone (runs killed with SIGKILL). */
export function removeStale(dir, prefix) {
  const pattern = new RegExp(`^${prefix}-(\\d+)$`);
  for (const d of readdirSync(dir)) {
    const pid = pattern.exec(d)?.[1];
    if (pid && Number(pid) !== process.pid && !alive(Number(pid))) rmSync(path.join(dir, d), { recursive: true, force: true });
  }
}

/**
 * The origin (bench/origin.mjs) in its own process, so that it does not share an event loop with
 * the load generator. `count()` asks it how many requests it has served.
 */
export async function startOrigin() {
  const child = fork(path.join(BENCH, "origin.mjs"), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  onCleanup(
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
