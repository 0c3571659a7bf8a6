/**
 * The exact counter behind rate limits and quotas: one Durable Object per key, and one per limit
 * group (never one global object), so every isolate in every location agrees on one count. Isolates
 * do not ask it per request: they lease a share of what remains and spend it locally
 * (src/ratelimit/leases.ts).
 *
 * A rate limit of N per W seconds admits at most N units in each window [k*W, (k+1)*W); a quota at
 * most its limit plus what was credited in each calendar period (src/lib/periods.ts). Leased
 * units are counted as spent when granted, so the sum over all isolates can never pass a limit; a
 * lease an isolate does not spend (it went idle or was evicted) refuses a little early, never late.
 * A lease is good only within the window it was granted in (the earliest window end among the
 * counter's policies).
 *
 * A key's counter is told the key's policies with every lease (they come with the key's edge
 * record). A limit group's counter holds the group's policies itself: management pushes them on
 * every change (`configure`), and the counter re-reads them from D1 when they are older than
 * GROUP_CONFIG_MAX_AGE_MS (in the background) or it has none (the one lease that waits on D1).
 *
 * State lives in the object's SQLite-backed storage (synchronous KV API), so a grant is durable
 * before the caller sees it (output gate) and survives the object being evicted or moved.
 */
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { type CountedPolicy, currentWindow, isQuota, storageKeyOf } from "../lib/periods";
import type { QuotaPeriod } from "../vocab/quotas.mjs";
import { GROUP_CONFIG_MAX_AGE_MS, type GroupConfig, loadGroupConfig } from "./group-config";

export type { CountedPolicy } from "../lib/periods";
export type { GroupConfig } from "./group-config";

/** A rate limit as the counter sees it (kept for callers that only count rate limits). */
export interface LimitSpec {
  name: string;
  limit: number;
  window_seconds: number;
}

export interface LeaseRequest {
  limits: readonly CountedPolicy[];
  /** How many units the isolate would like to admit before asking again. */
  want: number;
  /** The fewest units worth granting (the cost of the request waiting, less what the isolate holds); default 1. */
  need?: number;
  /** The caller's clock (ms). Windows never move backwards: the later of it and what is stored wins. */
  nowMs: number;
  /** The key's tenant and id: quota alerts name them (a group's counter knows its own). */
  alerts?: { tenant: string; keyId: string };
}

/** What a counter tells about a quota that may need an alert (src/alerts/quota-alerts.ts decides and raises it). */
export interface QuotaAlertCandidate {
  tenant: string;
  /** The key's id, or the group's. */
  subject: { kind: "key" | "group"; id: string };
  /** quota_exhausted: a lease was refused for it; quota_low: a grant left it at `remaining`. */
  type: "quota_low" | "quota_exhausted";
  name: string;
  /** The period's window index (src/lib/periods.ts), in the dedupe key. */
  window: number;
  limit: number;
  credited: number;
  remaining: number;
  resetsAt: number | null;
}

/** Raises a quota alert if it is due; resolves whether it raised one. */
export type QuotaAlertSink = (env: Env, candidate: QuotaAlertCandidate, nowMs: number) => Promise<boolean>;

/** The alerts feature sits above this one: the entry point (src/index.ts) hands the counter its raiser. */
let quotaAlertSink: QuotaAlertSink | undefined;
export function setQuotaAlertSink(sink: QuotaAlertSink): void {
  quotaAlertSink = sink;
}

export interface LimitState {
  name: string;
  limit: number;
  window_seconds?: number;
  period?: QuotaPeriod;
  /** What remains in the current window after this grant. */
  remaining: number;
  /** When the current window ends (ms); null for a quota that never refills. */
  resetAtMs: number | null;
  /** Credited in the current period (quotas only). */
  credited?: number;
}

export interface LeaseGrant {
  granted: number;
  /** The lease may be spent until then (the earliest window end). */
  validUntilMs: number;
  limits: LimitState[];
  /** When nothing was granted: how long until every exhausted policy has a new window; null if one never will. */
  retryAfterMs: number | null;
  /** The RateLimit-Policy items of a group's counter (its own policies); absent for a key's. */
  policyHeader?: string;
}

interface Counted {
  /** Window index (src/lib/periods.ts). */
  w: number;
  count: number;
  /** When the window ends (ms), null never; absent in entries written before quotas (derived from the key). */
  endMs?: number | null;
  /** Credited in this window (quotas). */
  credit?: number;
}

/** A lease is at most this share of what remains, so other isolates (and other locations) get theirs. */
const LEASE_SHARE = 0.25;
/** No window ends: a lease of counters that only hold `none` quotas is good until this. */
const NEVER_MS = Number.MAX_SAFE_INTEGER;
const CONFIG_KEY = "config";

interface Evaluated {
  spec: CountedPolicy;
  counted: Counted;
  resetAtMs: number | null;
  remaining: number;
}

function stateOf(s: Evaluated): LimitState {
  const state: LimitState = { name: s.spec.name, limit: s.spec.limit, remaining: s.remaining, resetAtMs: s.resetAtMs };
  if (isQuota(s.spec)) {
    state.period = s.spec.period;
    state.credited = s.counted.credit ?? 0;
  } else state.window_seconds = s.spec.window_seconds;
  return state;
}

export class RateLimitCounter extends DurableObject<Env> {
  private alarmAtMs: number | null = null;

  private evaluate(limits: readonly CountedPolicy[], nowMs: number): Evaluated[] {
    const kv = this.ctx.storage.kv;
    return limits.map((spec) => {
      const { w, endMs } = currentWindow(spec, nowMs);
      const stored = kv.get<Counted>(storageKeyOf(spec));
      const counted = stored && stored.w >= w ? stored : { w, count: 0, endMs };
      // A window ahead of the caller's clock (another isolate's clock) ends when it was stored to.
      const resetAtMs = counted.w === w || counted.endMs === undefined ? endMs : counted.endMs;
      return { spec, counted, resetAtMs, remaining: Math.max(0, spec.limit + (counted.credit ?? 0) - counted.count) };
    });
  }

  /** Grants between `need` and `want` units across every policy at once; 0 when one has fewer than `need` left. */
  lease(request: LeaseRequest): LeaseGrant {
    const subject = request.alerts ? { tenant: request.alerts.tenant, kind: "key" as const, id: request.alerts.keyId } : undefined;
    return this.grant(request.limits, request.want, request.need ?? 1, request.nowMs, subject);
  }

  private grant(
    limits: readonly CountedPolicy[],
    wantRaw: number,
    needRaw: number,
    nowMs: number,
    subject?: { tenant: string; kind: "key" | "group"; id: string },
  ): LeaseGrant {
    const kv = this.ctx.storage.kv;
    const states = this.evaluate(limits, nowMs);
    const need = Math.max(1, Math.floor(needRaw));
    const want = Math.max(need, Math.floor(wantRaw));
    const least = states.length === 0 ? want : Math.min(...states.map((s) => s.remaining));
    let granted = Math.min(want, least, Math.max(need, Math.ceil(least * LEASE_SHARE)));
    if (granted < need) granted = 0;
    if (granted > 0) {
      for (const s of states) {
        s.counted = { ...s.counted, count: s.counted.count + granted, endMs: s.resetAtMs };
        s.remaining -= granted;
        kv.put(storageKeyOf(s.spec), s.counted);
      }
      const ends = states.map((s) => s.resetAtMs).filter((e): e is number => e !== null);
      if (ends.length > 0) this.scheduleCleanup(Math.max(...ends));
    }
    const exhausted = granted === 0 ? states.filter((s) => s.remaining < need) : [];
    if (subject !== undefined && subject.tenant !== "" && quotaAlertSink !== undefined)
      this.quotaAlerts(states, granted, need, nowMs, subject);
    const ends = states.map((s) => s.resetAtMs).filter((e): e is number => e !== null);
    return {
      granted,
      validUntilMs: ends.length === 0 ? NEVER_MS : Math.min(...ends),
      limits: states.map(stateOf),
      retryAfterMs:
        exhausted.length === 0
          ? 0
          : exhausted.some((s) => s.resetAtMs === null)
            ? null
            : Math.max(...exhausted.map((s) => s.resetAtMs as number)) - nowMs,
    };
  }

  /**
   * Starts quota_low / quota_exhausted for the quotas among `states` that need one, once per quota
   * and period (flags in storage), after the lease has answered.
   */
  private quotaAlerts(
    states: readonly Evaluated[],
    granted: number,
    need: number,
    nowMs: number,
    subject: { tenant: string; kind: "key" | "group"; id: string },
  ): void {
    const kv = this.ctx.storage.kv;
    for (const s of states) {
      if (!isQuota(s.spec)) continue;
      const flagKey = `alerted:${storageKeyOf(s.spec)}`;
      const flags = kv.get<{ low?: number; exhausted?: number }>(flagKey) ?? {};
      const w = s.counted.w;
      const type = granted === 0 && s.remaining < need ? "quota_exhausted" : granted > 0 ? "quota_low" : undefined;
      if (type === undefined || (type === "quota_low" ? flags.low : flags.exhausted) === w) continue;
      const candidate: QuotaAlertCandidate = {
        tenant: subject.tenant,
        subject: { kind: subject.kind, id: subject.id },
        type,
        name: s.spec.name,
        window: w,
        limit: s.spec.limit,
        credited: s.counted.credit ?? 0,
        remaining: s.remaining,
        resetsAt: s.resetAtMs,
      };
      // An exhausted quota is flagged at once (a flood of refusals starts one alert); a low one once confirmed.
      if (type === "quota_exhausted") kv.put(flagKey, { ...flags, exhausted: w });
      this.ctx.waitUntil(
        (quotaAlertSink as QuotaAlertSink)(this.env, candidate, nowMs)
          .then((raised) => {
            if (raised && type === "quota_low") kv.put(flagKey, { ...(kv.get<typeof flags>(flagKey) ?? {}), low: w });
          })
          .catch((err) => console.error(`raising ${type} for ${subject.id} failed`, err)),
      );
    }
  }

  /** What remains of each policy now, granting nothing (the key view, usage). */
  peek(limits: readonly CountedPolicy[], nowMs: number): LimitState[] {
    return this.evaluate(limits, nowMs).map(stateOf);
  }

  /**
   * Adds `amount` to the quota's current period (a `none` quota keeps it for good) and returns its
   * state after the credit. Credits end with their period, as the calls they allow would.
   */
  credit(quota: CountedPolicy, amount: number, nowMs: number): LimitState {
    const [s] = this.evaluate([quota], nowMs);
    if (!s) throw new Error("no quota to credit");
    s.counted = { ...s.counted, credit: (s.counted.credit ?? 0) + amount, endMs: s.resetAtMs };
    this.ctx.storage.kv.put(storageKeyOf(quota), s.counted);
    if (s.resetAtMs !== null) this.scheduleCleanup(s.resetAtMs);
    return stateOf({ ...s, remaining: Math.max(0, quota.limit + (s.counted.credit ?? 0) - s.counted.count) });
  }

  /** A limit group's policies, pushed by management after each change (never replaced by older ones). */
  configure(config: Omit<GroupConfig, "checkedAtMs">, nowMs: number): void {
    const current = this.ctx.storage.kv.get<GroupConfig>(CONFIG_KEY);
    if (current && current.version > config.version) return;
    this.ctx.storage.kv.put(CONFIG_KEY, { ...config, checkedAtMs: nowMs });
  }

  /** A lease from a limit group's counter, against the group's own policies. */
  async leaseGroup(request: { groupId: string; want: number; need?: number; nowMs: number }): Promise<LeaseGrant> {
    const config = await this.groupConfig(request.groupId, request.nowMs);
    const subject = { tenant: config.tenant, kind: "group" as const, id: request.groupId };
    return { ...this.grant(config.limits, request.want, request.need ?? 1, request.nowMs, subject), policyHeader: config.policyHeader };
  }

  /** What remains of a group's policies now, granting nothing. */
  async peekGroup(groupId: string, nowMs: number): Promise<LimitState[]> {
    return this.peek((await this.groupConfig(groupId, nowMs)).limits, nowMs);
  }

  private async groupConfig(groupId: string, nowMs: number): Promise<GroupConfig> {
    const current = this.ctx.storage.kv.get<GroupConfig>(CONFIG_KEY);
    if (current === undefined) return this.reloadGroup(groupId, nowMs);
    if (nowMs - current.checkedAtMs > GROUP_CONFIG_MAX_AGE_MS) {
      // Mark it checked first so concurrent leases start one reload, not one each.
      this.ctx.storage.kv.put(CONFIG_KEY, { ...current, checkedAtMs: nowMs });
      this.ctx.waitUntil(this.reloadGroup(groupId, nowMs).catch((err) => console.error(`reloading limit group ${groupId} failed`, err)));
    }
    return current;
  }

  private async reloadGroup(groupId: string, nowMs: number): Promise<GroupConfig> {
    const loaded = await loadGroupConfig(this.env.DB, groupId);
    const current = this.ctx.storage.kv.get<GroupConfig>(CONFIG_KEY);
    if (current && current.version > loaded.version) return current;
    const config = { ...loaded, checkedAtMs: nowMs };
    this.ctx.storage.kv.put(CONFIG_KEY, config);
    return config;
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
    for (const [key, value] of this.ctx.storage.kv.list<Counted | GroupConfig>()) {
      if (key === CONFIG_KEY || key.startsWith("alerted:") || !("w" in value)) continue;
      // Entries from before quotas carry no end: a rate limit's window length leads their key.
      const endMs = value.endMs !== undefined ? value.endMs : (value.w + 1) * Number(key.slice(0, key.indexOf(":"))) * 1000;
      if (endMs !== null && endMs <= now) this.ctx.storage.kv.delete(key);
    }
  }
}
