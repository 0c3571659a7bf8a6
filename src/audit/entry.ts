/**
 * What an audit entry is: the actions and outcomes it may record (one list each: the schema, the
 * query filter and the OpenAPI document derive from them), who the actor was, and the row built
 * from a management request.
 */
import type { ManagementContext, Principal } from "../auth/principal";
import type { NewAuditRow } from "../db/schema";

export const AUDIT_ACTIONS = [
  "create",
  "list",
  "get",
  "update",
  "rotate",
  "revoke",
  "audit",
  "usage",
  "alerts",
  "update_settings",
  "acknowledge_alert",
  "webhooks",
  "create_webhook",
  "delete_webhook",
  "test_webhook",
  /** A leak of a live key was reported and the tenant's policy is to notify only. */
  "leak_report",
  /** Issue 19: quota credits and limit groups. */
  "credit_quota",
  "limit_groups",
  "create_limit_group",
  "update_limit_group",
  "delete_limit_group",
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export const AUDIT_OUTCOMES = ["success", "denied", "invalid", "not_found", "conflict", "throttled", "error"] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

/** `leak-report`: keygate acting on a leak report (actor id `github` or `public-report`). */
export const ACTOR_KINDS = ["user", "key", "anonymous", "leak-report"] as const;
export type ActorKind = (typeof ACTOR_KINDS)[number];

/** The audit log's actor fields for a principal (none: an attempt that never authenticated). */
export function actorOf(principal: Principal | undefined): { actorKind: ActorKind; actorId: string | null } {
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
    id: `evt-${crypto.randomUUID()}`,
    at: ctx.now,
    tenantId: ctx.tenant,
    ...actorOf(ctx.principal),
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
    id: `evt-${crypto.randomUUID()}`,
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
