// Management traffic: creates, revokes, rotations (with and without grace), renames and lists,
// one at a time through the primary isolate.
import { elapsedSec, sleep } from "../lib/lifecycle.mjs";
import { round } from "../lib/stats.mjs";
import { chooser } from "./traffic.mjs";

/** Management traffic: one operation at a time, through the primary isolate, until `stop()`. */
export function managementLoop(client, state, intervalMs) {
  const ops = { create: 0, revoke: 0, "rotate (no grace)": 0, "rotate (grace)": 0, patch: 0, list: 0 };
  const byStatus = {};
  const errors = [];
  let running = true;
  const GRACE_SECONDS = 15;
  const expected = { create: 201, revoke: 200, "rotate (no grace)": 201, "rotate (grace)": 201, patch: 200, list: 200 };
  const change = async (key, op, send, graceMs, expectedStatus) => {
    state.live.remove(key);
    key.changeStartedAt = Date.now();
    const res = await send();
    // A change that was not confirmed leaves the key's state unknown: it leaves the mix.
    if (res.status !== expectedStatus) return res;
    key.changedAt = Date.now();
    key.graceMs = graceMs;
    key.cutoffMs = key.changedAt + graceMs;
    key.state = op === "revoke" ? "revoked" : "rotated";
    state.recent.push(key);
    return res;
  };
  const weighted = chooser([
    { weight: 3, name: "create" },
    { weight: 3, name: "revoke" },
    { weight: 2, name: "rotate (no grace)" },
    { weight: 1, name: "rotate (grace)" },
    { weight: 1, name: "patch" },
    { weight: 1, name: "list" },
  ]);
  const done = (async () => {
    while (running) {
      const op = weighted().name;
      let res;
      try {
        if (op === "create") {
          res = await client.create({ name: `soak-${state.created}`, scopes: ["api:read"], expires_in_days: 30 });
          if (res.status === 201) state.live.add({ id: res.body.id, apiKey: res.body.api_key });
          state.created++;
        } else if (op === "revoke") {
          const key = state.live.random();
          res = await change(key, op, () => client.revoke(key.id, "soak"), 0, expected[op]);
        } else if (op.startsWith("rotate")) {
          const key = state.live.random();
          const graceSeconds = op === "rotate (grace)" ? GRACE_SECONDS : 0;
          res = await change(
            key,
            op,
            () => client.rotate(key.id, { grace_period_seconds: graceSeconds }),
            graceSeconds * 1000,
            expected[op],
          );
          if (res.status === 201) state.live.add({ id: res.body.id, apiKey: res.body.api_key });
        } else if (op === "patch") {
          const key = state.live.random();
          res = await client.patch(key.id, { name: `soak-renamed-${ops.patch}` });
        } else {
          res = await client.list("?limit=50&status=active");
        }
        byStatus[res.status] = (byStatus[res.status] ?? 0) + 1;
        if (res.status !== expected[op] && errors.length < 20)
          errors.push({ at: round(elapsedSec(), 1), op, status: res.status, body: res.body });
        if (res.status !== expected[op]) errors.total = (errors.total ?? 0) + 1;
      } catch (err) {
        errors.total = (errors.total ?? 0) + 1;
        if (errors.length < 20) errors.push({ at: round(elapsedSec(), 1), op, error: String(err?.message ?? err) });
      }
      ops[op]++;
      await sleep(intervalMs);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await done;
    },
    report: () => ({ ops, byStatus, errors: errors.total ?? 0, errorExamples: [...errors] }),
  };
}
