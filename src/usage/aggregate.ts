/** What one batch of usage events adds, aggregated in memory before it becomes statements. */
import { GRANULARITIES } from "../vocab/usage.mjs";
import type { UsageEvent } from "./events";

function floorTo(seconds: number, step: number): number {
  return seconds - (seconds % step);
}

function add<K>(map: Map<K, number>, key: K, n = 1): void {
  map.set(key, (map.get(key) ?? 0) + n);
}

/** A key's scope exercised on a UTC day: how often, and the latest time. */
export interface ScopeDay {
  tenant: string;
  keyId: string;
  scope: string;
  day: number;
  count: number;
  last: number;
}

export interface SeenIp {
  tenant: string;
  keyId: string;
  ip: string;
  first: number;
  last: number;
  count: number;
  country: string | null;
}

/** What one batch adds, aggregated in memory before it becomes statements. */
export function aggregate(events: readonly UsageEvent[]) {
  const counts = new Map<string, number>(); // granularity|tenant|key|bucket|outcome
  const clients = new Map<string, number>(); // hour|tenant|ip (refusals)
  const ips = new Map<string, SeenIp>(); // key|ip
  const lastUsed = new Map<string, number>(); // key -> its latest accepted request
  const keyHours = new Map<string, { tenant: string; keyId: string; hour: number; n: number; outcomes: Set<string> }>();
  const tenantHours = new Map<string, number>(); // tenant|hour -> refusals
  const scopeDays = new Map<string, ScopeDay>(); // key|scope|day
  for (const [atMs, tenant, keyId, , , , outcome, ip, country, , scope] of events) {
    const at = Math.floor(atMs / 1000);
    const t = tenant ?? "";
    const k = keyId ?? "";
    for (const [granularity, step] of Object.entries(GRANULARITIES))
      add(counts, `${granularity}|${t}|${k}|${floorTo(at, step)}|${outcome}`);
    const hour = floorTo(at, GRANULARITIES.hour);
    const refused = outcome !== "accepted";
    if (refused && ip !== null) add(clients, `${hour}|${t}|${ip}`);
    if (tenant === null || keyId === null) continue;
    if (typeof scope === "string") {
      const day = floorTo(at, GRANULARITIES.day);
      const sd = `${keyId}|${scope}|${day}`;
      const seen = scopeDays.get(sd);
      if (seen) {
        seen.count++;
        seen.last = Math.max(seen.last, at);
      } else scopeDays.set(sd, { tenant, keyId, scope, day, count: 1, last: at });
    }
    if (refused) add(tenantHours, `${tenant}|${hour}`);
    else if (at > (lastUsed.get(keyId) ?? 0)) lastUsed.set(keyId, at);
    const kh = `${keyId}|${hour}`;
    const entry = keyHours.get(kh) ?? { tenant, keyId, hour, n: 0, outcomes: new Set<string>() };
    entry.n++;
    entry.outcomes.add(outcome);
    keyHours.set(kh, entry);
    if (ip === null) continue;
    const seen = ips.get(`${keyId}|${ip}`);
    if (seen) {
      seen.first = Math.min(seen.first, at);
      if (at >= seen.last) {
        seen.last = at;
        seen.country = country ?? seen.country;
      }
      seen.count++;
    } else ips.set(`${keyId}|${ip}`, { tenant, keyId, ip, first: at, last: at, count: 1, country });
  }
  return { counts, clients, ips, keyHours, tenantHours, lastUsed, scopeDays };
}

export type Aggregate = ReturnType<typeof aggregate>;
