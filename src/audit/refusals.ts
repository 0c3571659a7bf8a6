/**
 * Refused management attempts of callers outside the tenant named in the path: nobody, a bad
 * credential, or another tenant's user or key. They never write the tenant's audit log (a caller of
 * tenant B could otherwise fill tenant A's log); they are counted for the operator instead, in
 * `management_refusals` (migrations/0006): one row per hour, tenant, actor and error, holding a
 * count, the first and last time and the last client. The table is bounded, and no one client
 * network can exhaust it (src/db/audit-repo.ts countManagementRefusal): a network starts at most
 * REFUSAL_ROWS_PER_NETWORK rows an hour; past REFUSAL_ROWS_PER_HOUR distinct rows in an hour, or
 * past its network's share, a new combination is counted in its tenant's overflow row (actor and
 * error '*', the tenant kept, at most REFUSAL_TENANT_OVERFLOW_ROWS of them an hour), and past that
 * in the hour's one overflow row (tenant too '*'). The cron prunes it after AUDIT_RETENTION_DAYS.
 * An operator reads it with SQL (docs/management-security.md).
 */
import { countManagementRefusal } from "../db/audit-repo";
import type { Db } from "../db/client";
import { clientNetwork } from "../lib/ip";
import type { ActorKind } from "../vocab/audit.mjs";

const SECONDS_PER_HOUR = 3600;
/** Distinct (tenant, actor, error) rows per hour before new ones go to an overflow row. */
export const REFUSAL_ROWS_PER_HOUR = 1000;
/**
 * Rows one client network (an IPv4 address, an IPv6 /64) may start an hour. At the brute-force
 * throttle's default AUTH_FAILURE_LIMIT (failures a minute) one address could otherwise start 60
 * times that many rows an hour and fill it.
 */
export const REFUSAL_ROWS_PER_NETWORK = 20;
/** Per-tenant overflow rows an hour (beyond REFUSAL_ROWS_PER_HOUR), before the hour's one overflow row. */
export const REFUSAL_TENANT_OVERFLOW_ROWS = 1000;
/** What an overflow row holds in place of actor kind, actor id and error (and, in the hour's, tenant). */
export const REFUSAL_OVERFLOW = "*";

export interface ForeignRefusal {
  /** The tenant named in the path (well-formed: a tenant id that fails the pattern is not recorded). */
  tenant: string;
  actorKind: ActorKind;
  actorId: string | null;
  /** The refusal's error code. */
  error: string;
  ip: string | null;
  userAgent: string | null;
  /** Unix seconds. */
  now: number;
}

/** Counts a refusal; never lets the write's failure replace the caller's real error. */
export async function recordForeignRefusal(db: Db, r: ForeignRefusal): Promise<void> {
  try {
    await countManagementRefusal(
      db,
      {
        hour: r.now - (r.now % SECONDS_PER_HOUR),
        tenantId: r.tenant,
        actorKind: r.actorKind,
        actorId: r.actorId ?? "",
        error: r.error,
        at: r.now,
        ip: r.ip,
        userAgent: r.userAgent,
        network: r.ip === null ? null : clientNetwork(r.ip),
      },
      {
        rowsPerHour: REFUSAL_ROWS_PER_HOUR,
        rowsPerNetwork: REFUSAL_ROWS_PER_NETWORK,
        tenantOverflowRows: REFUSAL_TENANT_OVERFLOW_ROWS,
        overflow: REFUSAL_OVERFLOW,
      },
    );
  } catch (err) {
    console.error("management refusal count failed", err);
  }
}
