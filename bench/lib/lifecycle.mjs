// One lifecycle per bench/soak process: everything started registers how to stop it, and that runs
// once, in reverse order, on normal exit, on error, on Ctrl-C / SIGTERM and when the watchdog
// fires. A second Ctrl-C exits at once. Also the shared log line format and `sleep`.
import { performance } from "node:perf_hooks";

const cleanups = [];
/** Stoppers that must run before anything is torn down (a running load generator). */
const firstCleanups = [];
let cleaning;
let interrupted = false;
const started = performance.now();

/** Seconds since this process started, for log lines and elapsed times. */
export function elapsedSec() {
  return (performance.now() - started) / 1000;
}

export function log(...args) {
  console.error(`[${elapsedSec().toFixed(1).padStart(5)}s]`, ...args);
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Registers `fn` to run at cleanup; `first` ones run before all others (e.g. stop the load). */
export function onCleanup(fn, { first = false } = {}) {
  (first ? firstCleanups : cleanups).push(fn);
}

export function cleanup() {
  cleaning ??= (async () => {
    for (const fn of [...firstCleanups, ...cleanups.reverse()]) {
      try {
        await fn();
      } catch (err) {
        console.error(`cleanup: ${err?.message ?? err}`);
      }
    }
  })();
  return cleaning;
}

export function isInterrupted() {
  return interrupted;
}

function onSignal(signal) {
  if (interrupted) process.exit(130);
  interrupted = true;
  console.error(`\n${signal}: stopping everything this run started...`);
  const hard = setTimeout(() => process.exit(130), 10_000);
  hard.unref();
  cleanup().finally(() => process.exit(130));
}

/** Call first thing: Ctrl-C during start-up must still stop whatever was already started. */
export function installSignalHandlers() {
  for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, onSignal);
}

/** miniflare adds SIGINT/SIGTERM handlers that exit at once; ours stop everything in order. */
export function keepOnlyOurSignalHandlers() {
  for (const signal of ["SIGINT", "SIGTERM"]) {
    for (const l of process.listeners(signal)) if (l !== onSignal) process.removeListener(signal, l);
  }
}

/** Stops everything and exits with 3 if the run takes longer than `budgetMs`. */
export function startWatchdog(budgetMs, what) {
  const watchdog = setTimeout(() => {
    console.error(`${what} exceeded its ${Math.round(budgetMs / 1000)} s budget; stopping`);
    cleanup().finally(() => process.exit(3));
  }, budgetMs);
  watchdog.unref();
}

/**
 * Runs `main`, then cleans up and exits with the code `main` returned (default 0); on error prints
 * it, cleans up and exits 1.
 */
export function runMain(main) {
  let code = 0;
  main()
    .then((c) => {
      code = typeof c === "number" ? c : 0;
      return cleanup();
    })
    .then(() => {
      if (interrupted) return; // the signal handler exits with 130 once cleanup is done
      log("done; everything stopped");
      process.exit(code);
    })
    .catch(async (err) => {
      if (interrupted) return;
      console.error(err?.stack ?? err);
      await cleanup();
      process.exit(1);
    });
}
