// Gateway traffic: the kinds of request the soak sends, each with how to judge its answer, and the
// tallies of what came back.
import { elapsedSec } from "../lib/lifecycle.mjs";
import { tamperSignature } from "../lib/management.mjs";
import { round } from "../lib/stats.mjs";
import { FEATURES } from "../scenarios.mjs";
import { ISOLATES, SLACK_MS } from "./constants.mjs";
import { pick, refuseBy } from "./keys.mjs";

// Gateway traffic: kinds as data. `request(state)` returns { method, path, headers, key? };
// `judge(status, ctx, state)` returns null when the answer is right, else why it is wrong.
const expectStatus = (expected, what) => (status) => (status === expected ? null : `${what}: expected ${expected}, got ${status}`);
const bearer = (token) => ({ authorization: `Bearer ${token}` });
const resourcePath = () => `/api/v1/resources/${Math.floor(Math.random() * 10_000)}`;

/** A key that was active when the request was sent must be accepted... */
function judgeValid(status, ctx) {
  if (status === 200) return null;
  // ...unless the management loop started changing it before the answer came: a fair refusal.
  if (status === 401 && ctx.key.changeStartedAt !== undefined && ctx.key.changeStartedAt <= ctx.answeredAt) return null;
  return `valid key refused: got ${status}`;
}

export const TRAFFIC = [
  {
    kind: "valid",
    weight: 55,
    // Random paths: 10,000 distinct ones, more than the route-decision cache holds.
    request: (s) => {
      const key = s.live.random();
      return { method: "GET", path: resourcePath(), headers: bearer(key.apiKey), key };
    },
    judge: (status, ctx) => judgeValid(status, ctx),
  },
  {
    kind: "recently changed",
    weight: 8,
    request: (s) => {
      const key = s.recent.length ? pick(s.recent) : s.live.random();
      return { method: "GET", path: resourcePath(), headers: bearer(key.apiKey), key };
    },
    judge: (status, ctx, s) => {
      const key = ctx.key;
      if (key.changedAt === undefined) return judgeValid(status, ctx);
      if (status === 200) {
        const deadline = refuseBy(key, ctx.isolate, s.ttlMs);
        s.noteAcceptedAfterChange(ctx, key);
        return ctx.sentAt > deadline
          ? `${key.state} key accepted ${ctx.sentAt - deadline + SLACK_MS} ms after its bound on ${ctx.isolate}`
          : null;
      }
      if (status === 401) {
        // A rotation's grace period: the old key is valid until its cut-off.
        return key.graceMs > 0 && ctx.answeredAt < key.changeStartedAt + key.graceMs - SLACK_MS ? "key in its grace period refused" : null;
      }
      return `changed key: expected 200 or 401, got ${status}`;
    },
  },
  {
    kind: "revoked",
    weight: 5,
    request: (s) => {
      const key = s.settled.length ? pick(s.settled) : undefined;
      return { method: "GET", path: resourcePath(), headers: bearer(key ? key.apiKey : s.forge()), key };
    },
    judge: expectStatus(401, "revoked or rotated key"),
  },
  {
    kind: "missing",
    weight: 4,
    request: () => ({ method: "GET", path: resourcePath(), headers: {} }),
    judge: expectStatus(401, "no credential"),
  },
  {
    kind: "malformed",
    weight: 4,
    request: () => ({ method: "GET", path: resourcePath(), headers: { authorization: "Bearer %%not-a-token%%" } }),
    judge: expectStatus(400, "malformed credential"),
  },
  {
    kind: "forged",
    weight: 6,
    request: (s) => ({ method: "GET", path: resourcePath(), headers: bearer(s.forge()) }),
    judge: expectStatus(401, "forged key"),
  },
  {
    kind: "tampered",
    weight: 3,
    request: (s) => ({ method: "GET", path: resourcePath(), headers: bearer(tamperSignature(s.live.random().apiKey)) }),
    judge: expectStatus(401, "tampered signature"),
  },
  {
    kind: "expired",
    weight: 4,
    request: (s) => ({ method: "GET", path: resourcePath(), headers: bearer(pick(s.expired)) }),
    judge: expectStatus(401, "expired key"),
  },
  {
    kind: "missing scope",
    weight: 4,
    request: (s) => {
      const key = s.live.random();
      return { method: "POST", path: resourcePath(), headers: bearer(key.apiKey), key };
    },
    // The key's state is checked before its scopes: a key being revoked meanwhile gets 401.
    judge: (status, ctx) =>
      status === 403 || (status === 401 && ctx.key.changeStartedAt !== undefined && ctx.key.changeStartedAt <= ctx.answeredAt)
        ? null
        : `key without api:write: expected 403, got ${status}`,
  },
  {
    kind: "public route",
    weight: 2,
    request: () => ({ method: "GET", path: "/health", headers: {} }),
    judge: expectStatus(200, "public route"),
  },
  {
    // Issue 8: keys with a small limit; 429 beyond it, and never more than the limit accepted per
    // window (checked loosely: accepted <= limit x windows touched, whatever the window alignment).
    kind: "rate-limited",
    weight: 4,
    enabled: FEATURES.rateLimits,
    request: (s) => {
      const key = pick(s.limited);
      return { method: "GET", path: resourcePath(), headers: bearer(key.apiKey), key };
    },
    judge: (status, ctx, s) => {
      if (status === 429) return null;
      if (status !== 200) return `rate-limited key: expected 200 or 429, got ${status}`;
      const key = ctx.key;
      key.accepted = (key.accepted ?? 0) + 1;
      const windows = Math.ceil((ctx.answeredAt - s.startedAt) / (key.windowSeconds * 1000)) + 1;
      return key.accepted > key.limit * windows
        ? `rate limit exceeded: ${key.accepted} accepted, limit ${key.limit} per ${key.windowSeconds} s`
        : null;
    },
  },
].filter((t) => t.enabled !== false);

export const LIMITED_KEYS = 20;
export const LIMIT = { name: "soak", limit: 50, window_seconds: 60 };

/** Weighted random choice of a traffic kind. */
export function chooser(kinds) {
  const total = kinds.reduce((a, k) => a + k.weight, 0);
  return () => {
    let r = Math.random() * total;
    for (const k of kinds) {
      r -= k.weight;
      if (r < 0) return k;
    }
    return kinds[kinds.length - 1];
  };
}

// Tallies.
export function tally() {
  return {
    requests: 0,
    byStatus: {},
    byKind: {},
    serverErrors: 0,
    wrong: 0,
    wrongByReason: {},
    wrongExamples: [],
    acceptedAfterChange: { [ISOLATES[0]]: 0, [ISOLATES[1]]: 0 },
    maxAcceptedLagMs: { [ISOLATES[0]]: 0, [ISOLATES[1]]: 0 },
  };
}

export function record(t, kind, status, wrong, ctx) {
  t.requests++;
  t.byStatus[status] = (t.byStatus[status] ?? 0) + 1;
  t.byKind[kind] ??= { requests: 0, byStatus: {} };
  const k = t.byKind[kind];
  k.requests++;
  k.byStatus[status] = (k.byStatus[status] ?? 0) + 1;
  if (status >= 500) t.serverErrors++;
  if (wrong) {
    t.wrong++;
    const reason = wrong.replace(/\d+ ms/, "N ms");
    t.wrongByReason[reason] = (t.wrongByReason[reason] ?? 0) + 1;
    if (t.wrongExamples.length < 20)
      t.wrongExamples.push({ at: round(elapsedSec(), 1), kind, status, isolate: ctx.isolate, key: ctx.key?.id, wrong });
  }
}
