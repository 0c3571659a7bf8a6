/**
 * What an audit entry is: who the actor was, and the row built from a management request or a
 * leak report. The actions, outcomes and kinds of actor it may record are src/vocab/audit.mjs.
 */
import type { ManagementContext, Principal } from "../auth/principal";
import type { NewAuditRow } from "../db/schema";
import { newRecordId } from "../lib/ids";
import type { ActorKind, AuditAction, AuditOutcome } from "../vocab/audit.mjs";

/** The audit log's actor fields for a principal (none: an attempt that never authenticated). */
export function auditActorOf(principal: Principal | undefined): { actorKind: ActorKind; actorId: string | null } {
  if (!principal) return { actorKind: "anonymous", actorId: null };
  return principal.kind === "user" ? { actorKind: "user", actorId: principal.sub } : { actorKind: "key", actorId: principal.keyId };
}

/** Outcome recorded for a refused attempt, from the status it was refused with. */
export function outcomeOf(status: number): AuditOutcome {
  if (status === 401 || status === 403) return "denied";
  if (status === 404) return "not_found";
  if (status === 409) return "conflict";
  if (status === 429) return "throttled";
  if (status >= 500) return "error";
  return "invalid";
}

export function auditEntry(
  ctx: Omit<ManagementContext, "principal"> & { principal?: Principal },
  action: AuditAction,
  targetKeyId: string | null,
  outcome: AuditOutcome,
  status: number,
  error: string | null = null,
): NewAuditRow {
  return {
    id: newRecordId("auditEntry"),
    at: ctx.now,
    tenantId: ctx.tenant,
    ...auditActorOf(ctx.principal),
    action,
    targetKeyId,
    outcome,
    status,
    error,
    ip: ctx.ip,
    userAgent: ctx.userAgent,
  };
}

/** Who acted, and where, when keygate acts on a leak report: the audit entry's actor is `leak-report`. */
export interface LeakReportActor {
  /** The reporter: "github" (secret scanning) or "public-report" (anyone, POST /api/v1/leaks/report). */
  reporter: string;
  ip: string | null;
  userAgent: string | null;
  /** The HTTP status the report was answered with. */
  status: number;
  now: number;
}

/** The audit entry of keygate acting on a leaked key: revoking it, or (`leak_report`) recording it only. */
export function leakReportEntry(
  actor: LeakReportActor,
  tenant: string,
  keyId: string,
  action: Extract<AuditAction, "revoke" | "leak_report">,
  sourceUrl: string | null,
): NewAuditRow {
  return {
    id: newRecordId("auditEntry"),
    at: actor.now,
    tenantId: tenant,
    actorKind: "leak-report",
    actorId: actor.reporter,
    action,
    targetKeyId: keyId,
    outcome: "success",
    status: actor.status,
    error: null,
    ip: actor.ip,
    userAgent: actor.userAgent,
    // Free of control characters: a public report's url is refused with one, GitHub's is escaped
    // where its findings are read (src/routes/leaks.ts).
    sourceUrl,
  };
}
