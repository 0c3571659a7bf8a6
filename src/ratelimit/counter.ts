/**
 * The exact counter behind per-key rate limits: one Durable Object per key (never one global
 * object), so every isolate in every location agrees on one count. Isolates do not ask it per
 * request: they lease a share of what remains and spend it locally (src/ratelimit/leases.ts).
 *
 * Windows are fixed and aligned to the unix epoch: a limit of N per W seconds admits at most N
 * requests in each window [k*W, (k+1)*W). Leased counts are counted as spent when granted, so the
 * sum over all isolates can never pass a limit; a lease an isolate does not spend (it went idle or
 * was evicted) refuses a little early, never late. A lease is good only within the window it was
 * granted in (the earliest window end among the key's limits).
 *
 * State lives in the object's SQLite-backed storage (synchronous KV API), so a grant is durable
 * before the caller sees it (output gate) and survives the object being evicted or moved.
 */
import { DurableObject } from "cloudflare:workers";

export interface LimitSpec {
  name: string;
  limit: number;
  window_seconds: number;
}

export interface LeaseRequest {
  limits: readonly LimitSpec[];
  /** How many requests the isolate would like to admit before asking again. */
  want: number;
  /** The caller's clock (ms). Windows never move backwards: the later of it and what is stored wins. */
  nowMs: number;
}

export interface LimitState {
  name: string;
  limit: number;
  window_seconds: number;
  /** What remains in the current window after this grant. */
  remaining: number;
  /** When the current window ends (ms). */
  resetAtMs: number;
}

export interface LeaseGrant {
  granted: number;
  /** The lease may be spent until then (the earliest window end). */
  validUntilMs: number;
  limits: LimitState[];
  /** When nothing was granted: how long until every exhausted limit has a new window. */
  retryAfterMs: number;
}

interface Counted {
  /** Window index: floor(ms / window length). */
  w: number;
  count: number;
}

/** A lease is at most this share of what remains, so other isolates (and other locations) get theirs. */
const LEASE_SHARE = 0.25;

function storageKey(limit: LimitSpec): string {
  return `${limit.window_seconds}:${limit.name}`;
}

export class RateLimitCounter extends DurableObject {
  private alarmAtMs: number | null = null;

  /** Grants up to `want` requests across every limit of the key; 0 when one is exhausted. */
  lease(request: LeaseRequest): LeaseGrant {
    const kv = this.ctx.storage.kv;
    const { nowMs } = request;
    const states = request.limits.map((spec) => {
      const windowMs = spec.window_seconds * 1000;
      const current = Math.floor(nowMs / windowMs);
      const stored = kv.get<Counted>(storageKey(spec));
      const counted = stored && stored.w >= current ? stored : { w: current, count: 0 };
      return { spec, counted, resetAtMs: (counted.w + 1) * windowMs, remaining: Math.max(0, spec.limit - counted.count) };
    });
    const least = Math.min(...states.map((s) => s.remaining));
    const granted = Math.min(Math.max(1, Math.floor(request.want)), least, Math.max(1, Math.ceil(least * LEASE_SHARE)));
    if (granted > 0) {
      for (const s of states) {
        s.counted = { w: s.counted.w, count: s.counted.count + granted };
        s.remaining -= granted;
        kv.put(storageKey(s.spec), s.counted);
      }
      this.scheduleCleanup(Math.max(...states.map((s) => s.resetAtMs)));
    }
    const exhausted = states.filter((s) => s.remaining === 0 && granted === 0);
    return {
      granted,
      validUntilMs: Math.min(...states.map((s) => s.resetAtMs)),
      limits: states.map((s) => ({ ...s.spec, remaining: s.remaining, resetAtMs: s.resetAtMs })),
      retryAfterMs: exhausted.length === 0 ? 0 : Math.max(...exhausted.map((s) => s.resetAtMs)) - nowMs,
    };
  }

  /** Counts whose window has ended are dead weight: drop them once the longest window is over. */
  private scheduleCleanup(atMs: number): void {
    if (this.alarmAtMs !== null && this.alarmAtMs >= atMs) return;
    this.alarmAtMs = atMs;
    void this.ctx.storage.setAlarm(atMs);
  }

  override async alarm(): Promise<void> {
    this.alarmAtMs = null;
    const now = Date.now();
    for (const [key, value] of this.ctx.storage.kv.list<Counted>()) {
      const windowMs = Number(key.slice(0, key.indexOf(":"))) * 1000;
      if ((value.w + 1) * windowMs <= now) this.ctx.storage.kv.delete(key);
    }
  }
}
