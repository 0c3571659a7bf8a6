// Keys and their states, as the soak knows them: the live pool, when a changed key must be refused,
// changed keys settling into the "revoked" mix, and expired tokens.
import { randomBytes, randomUUID } from "node:crypto";
import { ISOLATES, PRIMARY, SLACK_MS, TENANT } from "./constants.mjs";

/** A changed key stays in the "recent" mix this long after its last possible refusal deadline. */
const RECENT_AFTER_DEADLINE_MS = 20_000;
/** Revoked/rotated keys kept for the "revoked" mix (the oldest drop out). */
const MAX_SETTLED_KEYS = 2000;

export const pick = (list) => list[Math.floor(Math.random() * list.length)];

/** Active keys, O(1) random pick and removal. */
export class KeyPool {
  items = [];
  add(key) {
    key.poolIndex = this.items.length;
    this.items.push(key);
  }
  remove(key) {
    const last = this.items.pop();
    if (last !== key) {
      this.items[key.poolIndex] = last;
      last.poolIndex = key.poolIndex;
    }
    key.poolIndex = -1;
  }
  random() {
    return pick(this.items);
  }
}

/**
 * When an isolate must refuse a key whose change completed at `changedAt` (ms, our clock) with
 * cut-off `cutoffMs`: the isolate that served the change at once (pinned in its cache); the other
 * within REVOCATION_CACHE_TTL_SECONDS (its feed poll, or its cached record expiring). Local KV adds nothing.
 */
export function refuseBy(key, isolate, ttlMs) {
  return (isolate === PRIMARY ? Math.max(key.changedAt, key.cutoffMs) : Math.max(key.cutoffMs, key.changedAt + ttlMs)) + SLACK_MS;
}

/** Moves changed keys whose deadlines have long passed from `recent` to `settled`. */
export function settle(state) {
  const now = Date.now();
  const keep = [];
  for (const key of state.recent) {
    if (now > refuseBy(key, ISOLATES[1], state.ttlMs) + RECENT_AFTER_DEADLINE_MS) {
      state.settled.push(key);
      if (state.settled.length > MAX_SETTLED_KEYS) state.settled.shift();
    } else keep.push(key);
  }
  state.recent = keep;
}

/** Tokens signed by the real signing key with an `exp` in the past: "API key has expired". */
export async function expiredTokens(jose, signingJwk, vars, n) {
  const key = await jose.importJWK(signingJwk, "RS256");
  const now = Math.floor(Date.now() / 1000);
  const out = [];
  for (let i = 0; i < n; i++) {
    out.push(
      await new jose.SignJWT({ scopes: ["api:read"], key_id: `key-${randomUUID()}`, tenant: TENANT })
        .setProtectedHeader({ alg: "RS256", typ: "JWT", kid: signingJwk.kid })
        .setSubject("soak-user")
        .setIssuer(vars.KEY_ISSUER)
        .setAudience(vars.KEY_AUDIENCE)
        .setIssuedAt(now - 7200 - i)
        .setExpirationTime(now - 3600)
        .setJti(randomBytes(8).toString("hex"))
        .sign(key),
    );
  }
  return out;
}
