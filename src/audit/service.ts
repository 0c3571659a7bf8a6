/** Reading the audit log, and recording refused management attempts. */
import * as z from "zod/mini";
import { insertAudit, listAudit } from "../db/audit-repo";
import type { Db } from "../db/client";
import type { AuditRow, NewAuditRow } from "../db/schema";
import { ACTOR_KINDS, AUDIT_ACTIONS, AUDIT_OUTCOMES, type AuditAction } from "../vocab/audit.mjs";

/** An audit entry on the wire (GET .../audit-log). */
export const auditEntryViewSchema = z
  .strictObject({
    id: z.string(),
    at: z.int(),
    actor_kind: z.enum(ACTOR_KINDS),
    actor_id: z.nullable(z.string()),
    action: z.enum(AUDIT_ACTIONS),
    key_id: z.nullable(z.string()),
    outcome: z.enum(AUDIT_OUTCOMES),
    status: z.int(),
    error: z.nullable(z.string()),
    ip: z.nullable(z.string()),
    user_agent: z.nullable(z.string()),
    source_url: z.optional(z.string().check(z.describe("Where a reported leak was found; only on entries of leak reports."))),
  })
  .register(z.globalRegistry, { id: "AuditEntry", description: "One management action or refused attempt." });

export type AuditEntryView = z.output<typeof auditEntryViewSchema>;

function view(row: AuditRow): AuditEntryView {
  const entry: AuditEntryView = {
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
  if (row.sourceUrl !== null) entry.source_url = row.sourceUrl;
  return entry;
}

export interface AuditQuery {
  limit: number;
  beforeSeq?: number;
  keyId?: string;
  action?: AuditAction;
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

/**
 * Records a change made outside the key service's own transactions (settings, acknowledgements,
 * webhooks), right after it: a failure is logged, never turned into an error for a done change.
 */
export async function recordChange(db: Db, entry: NewAuditRow): Promise<void> {
  await recordRefusal(db, entry);
}

/** Records a refusal; never lets an audit failure replace the caller's real error. */
export async function recordRefusal(db: Db, entry: NewAuditRow): Promise<void> {
  try {
    await insertAudit(db, entry);
  } catch (err) {
    console.error("audit log write failed", err);
  }
}
