/** Reading and acknowledging a tenant's alerts. */
import { and, desc, eq, gte, isNull, lt, type SQL } from "drizzle-orm";
import * as z from "zod/mini";
import type { Db } from "../db/client";
import { type AlertRow, alerts } from "../db/schema";
import { ApiError } from "../errors";
import { jsonValue } from "../http/validate";
import { ID_NOUNS } from "../lib/ids";
import { ALERT_TYPES, type AlertType } from "../vocab/events.mjs";

export const alertViewSchema = z
  .strictObject({
    id: z.string(),
    type: z.enum(ALERT_TYPES),
    key_id: z.nullable(z.string()),
    created_at: z.int(),
    details: z.record(z.string(), jsonValue),
    acknowledged_at: z.nullable(z.int()),
    acknowledged_by: z.optional(z.string()),
  })
  .register(z.globalRegistry, { id: "Alert", description: "One detection; `details` depends on the type." });

export type AlertView = z.output<typeof alertViewSchema>;

function view(row: AlertRow): AlertView {
  const v: AlertView = {
    id: row.id,
    type: row.type as AlertType,
    key_id: row.keyId,
    created_at: row.createdAt,
    details: row.details as AlertView["details"],
    acknowledged_at: row.acknowledgedAt,
  };
  if (row.acknowledgedBy !== null) v.acknowledged_by = row.acknowledgedBy;
  return v;
}

export interface AlertQuery {
  limit: number;
  beforeSeq?: number;
  since?: number;
  type?: AlertType;
}

export async function listAlerts(db: Db, tenant: string, q: AlertQuery): Promise<{ alerts: AlertView[]; nextSeq: number | null }> {
  const conditions: SQL[] = [eq(alerts.tenantId, tenant)];
  if (q.beforeSeq !== undefined) conditions.push(lt(alerts.seq, q.beforeSeq));
  if (q.since !== undefined) conditions.push(gte(alerts.createdAt, q.since));
  if (q.type !== undefined) conditions.push(eq(alerts.type, q.type));
  const rows = await db
    .select()
    .from(alerts)
    .where(and(...conditions))
    .orderBy(desc(alerts.seq))
    .limit(q.limit + 1);
  const page = rows.slice(0, q.limit);
  const last = page[page.length - 1];
  return { alerts: page.map(view), nextSeq: rows.length > q.limit && last ? last.seq : null };
}

/** Acknowledges an alert (the first acknowledgement is kept); 404 for another tenant's. */
export async function acknowledgeAlert(db: Db, tenant: string, id: string, by: string, now: number): Promise<AlertView> {
  await db
    .update(alerts)
    .set({ acknowledgedAt: now, acknowledgedBy: by })
    .where(and(eq(alerts.tenantId, tenant), eq(alerts.id, id), isNull(alerts.acknowledgedAt)))
    .run();
  const row = await db.query.alerts.findFirst({ where: and(eq(alerts.tenantId, tenant), eq(alerts.id, id)) });
  if (!row) throw new ApiError("not_found", `${ID_NOUNS.alert} not found`);
  return view(row);
}
