/**
 * Refused management attempts of callers outside the tenant named in the path: nobody, a bad
 * credential, or another tenant's user or key. They never write the tenant's audit log (a caller of
 * tenant B could otherwise fill tenant A's log); they are counted for the operator instead, in
 * `management_refusals` (migrations/0006): one row per hour, tenant, actor and error, holding a
 * count, the first and last time and the last client. The table is bounded: past
 * REFUSAL_ROWS_PER_HOUR distinct rows in an hour, further new combinations are counted in that
 * hour's one overflow row (tenant, actor and error '*'). The cron prunes it after
 * AUDIT_RETENTION_DAYS. An operator reads it with SQL (docs/management-security.md).
 */
import { countManagementRefusal } from "../db/audit-repo";
import type { Db } from "../db/client";
import type { ActorKind } from "./entry";

const SECONDS_PER_HOUR = 3600;
/** Distinct (tenant, actor, error) rows per hour before new ones go to the overflow row. */
export const REFUSAL_ROWS_PER_HOUR = 1000;
/** What the overflow row holds in place of tenant, actor kind, actor id and error. */
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
      },
      { rowsPerHour: REFUSAL_ROWS_PER_HOUR, overflow: REFUSAL_OVERFLOW },
    );
  } catch (err) {
    console.error("management refusal count failed", err);
  }
}
