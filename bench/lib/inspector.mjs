// The Chrome DevTools protocol of one isolate, through miniflare's inspector port (miniflare must be
// started with `inspectorPort`): CPU profiles (bench/profile.mjs), the V8 heap after a forced
// collection and expressions evaluated in the isolate (bench/soak.mjs).

/** A DevTools session on worker `workerName`'s isolate: `send(method, params)` and `close()`. */
export async function devtools(mf, workerName) {
  const inspector = await mf.getInspectorURL();
  const list = await (await fetch(`http://${inspector.host}/json/list`)).json();
  const target = list.find((t) => t.id === `core:user:${workerName}`);
  if (!target) throw new Error(`no inspector target for ${workerName}: ${list.map((t) => t.id).join(", ")}`);
  // Node's own WebSocket client (global since Node 22).
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.addEventListener("open", resolve, { once: true });
    ws.addEventListener("error", () => reject(new Error(`inspector socket of ${workerName} failed`)), { once: true });
  });
  let seq = 0;
  const pending = new Map();
  const session = { contextId: undefined };
  ws.addEventListener("message", (event) => {
    const msg = JSON.parse(String(event.data));
    if (msg.id !== undefined && pending.has(msg.id)) {
      const { resolve, reject } = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.error) reject(new Error(`${msg.error.message}`));
      else resolve(msg.result);
    } else if (msg.method === "Runtime.executionContextCreated") {
      // workerd has no "default" context for Runtime.evaluate: name the worker's own.
      session.contextId = msg.params.context.id;
    }
  });
  ws.addEventListener("close", () => {
    for (const { reject } of pending.values()) reject(new Error(`inspector session of ${workerName} closed`));
    pending.clear();
  });
  session.send = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const id = ++seq;
      pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, params }));
    });
  session.close = () => ws.close();
  return session;
}

/**
 * Sends `method` and, until it answers, calls `nudge()` (e.g. one request to the worker) every
 * NUDGE_INTERVAL_MS: workerd runs some inspector commands (a forced collection) only when the
 * isolate has work to do, so on an idle isolate they would wait forever.
 */
async function sendNudged(session, method, params, nudge) {
  let answered = false;
  const reply = session.send(method, params).finally(() => {
    answered = true;
  });
  while (nudge && !answered) {
    await Promise.race([reply.catch(() => {}), new Promise((resolve) => setTimeout(resolve, NUDGE_INTERVAL_MS))]);
    if (!answered) await nudge();
  }
  return reply;
}
const NUDGE_INTERVAL_MS = 250;

/**
 * The isolate's V8 heap in bytes right after a full collection: { usedBytes, totalBytes }.
 * `nudge` wakes an idle isolate (see sendNudged).
 */
export async function heapAfterGc(session, nudge) {
  await sendNudged(session, "HeapProfiler.collectGarbage", {}, nudge);
  const usage = await session.send("Runtime.getHeapUsage");
  return { usedBytes: usage.usedSize, totalBytes: usage.totalSize };
}

/** Evaluates `expression` in the worker's context and returns its value (JSON-serializable only). */
export async function evaluate(session, expression, nudge) {
  if (session.contextId === undefined) {
    await session.send("Runtime.enable");
    for (let i = 0; session.contextId === undefined && i < 40; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      if (i % 10 === 9) await nudge?.();
    }
    if (session.contextId === undefined) throw new Error("the isolate announced no execution context");
  }
  const { result, exceptionDetails } = await sendNudged(
    session,
    "Runtime.evaluate",
    { expression, contextId: session.contextId, returnByValue: true },
    nudge,
  );
  if (exceptionDetails) throw new Error(`evaluating ${expression}: ${exceptionDetails.exception?.description ?? exceptionDetails.text}`);
  return result.value;
}

/**
 * Every per-isolate cache of keygate with its entry count and bound, as src/lib/bounded-map.ts
 * registers them: { [name]: { size, max } }; null if the bundle exposes none.
 */
export function cacheSizes(session, nudge) {
  return evaluate(session, 'globalThis[Symbol.for("keygate.caches")]?.() ?? null', nudge);
}

/**
 * keygate's counters in worker `workerName`'s isolate (src/lib/bounded-map.ts registerCounters):
 * { "rate-limit-counter": { leases, failures }, "usage-events": {...}, ... }; null if the bundle has
 * none. A short session of its own, so nothing stays attached while the bench measures.
 */
export async function isolateCounters(mf, workerName, nudge) {
  const session = await devtools(mf, workerName);
  try {
    return await evaluate(session, 'globalThis[Symbol.for("keygate.stats")]?.() ?? null', nudge);
  } finally {
    session.close();
  }
}
