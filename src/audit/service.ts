/** Reading the audit log, and recording refused management attempts. */

import { insertAudit, listAudit } from "../db/audit-repo";
import type { Db } from "../db/client";
import type { AuditRow, NewAuditRow } from "../db/schema";

export const AUDIT_ACTIONS = ["create", "list", "get", "update", "rotate", "revoke", "audit"] as const;

export interface AuditEntryView {
  id: string;
  at: number;
  actor_kind: string;
  actor_id: string | null;
  action: string;
  key_id: string | null;
  outcome: string;
  status: number;
  error: string | null;
  ip: string | null;
  user_agent: string | null;
}

function view(row: AuditRow): AuditEntryView {
  return {
    id: row.id,
    at: row.at,
    actor_kind: row.actorKind,
    actor_id: row.actorId,
    action: row.action,
    key_id: row.targetKeyId,
    outcome: row.outcome,
    status: row.status,
    error: row.error,
    ip: row.ip,
    user_agent: row.userAgent,
  };
}

export interface AuditQuery {
  limit: number;
  beforeSeq?: number;
  keyId?: string;
  action?: string;
  since?: number;
}

export async function listAuditEntries(
  db: Db,
  tenant: string,
  q: AuditQuery,
): Promise<{ entries: AuditEntryView[]; nextSeq: number | null }> {
  const rows = await listAudit(db, { tenant, ...q });
  const page = rows.slice(0, q.limit);
  const last = page[page.length - 1];
  return { entries: page.map(view), nextSeq: rows.length > q.limit && last ? last.seq : null };
}

/** Outcome recorded for a refused attempt, from the status it was refused with. */
export function outcomeOf(status: number): string {
  if (status === 401 || status === 403) return "denied";
  if (status === 404) return "not_found";
  if (status === 409) return "conflict";
  if (status >= 500) return "error";
  return "invalid";
}

/** Records a refusal; never lets an audit failure replace the caller's real error. */
export async function recordRefusal(db: Db, entry: NewAuditRow): Promise<void> {
  try {
    await insertAudit(db, entry);
  } catch (err) {
    console.error("audit log write failed", err);
  }
}
