/**
 * The cron (every 5 minutes): the edge-record reconciler, the time-driven detectors, the unused-key policy, webhook
 * deliveries a lost queue message stranded, and retention (usage, then the audit log). Each task runs even if another fails.
 */
import { detectScheduled } from "./alerts/scheduled";
import { auditRetentionDays } from "./audit/config";
import { pruneAudit } from "./audit/retention";
import { database } from "./db/client";
import type { Env } from "./env";
import { enforceUnusedPolicy } from "./governance/unused-policy";
import { reconcileEdgeRecords } from "./keys/reconcile";
import { usageConfig } from "./usage/config";
import { pruneUsage } from "./usage/retention";
import { enqueueDeliveries, resendStranded } from "./webhooks/deliver";

/** A pending delivery this long past its due time lost its queue message. */
const STRANDED_DELIVERY_GRACE_SECONDS = 300;

export async function runScheduled(env: Env, now: number): Promise<void> {
  const tasks: [string, () => Promise<string>][] = [
    [
      "reconciled edge records",
      async () => {
        const r = await reconcileEdgeRecords(env.DB, env.EDGE_RECORDS, now);
        const pass = r.passCompleted ? "pass complete" : "pass continues next run";
        return `${r.checked} checked, ${r.repaired} repaired, ${r.failed} failed, ${pass} (${r.kvOps} KV operations, ${r.d1Queries} D1 queries)`;
      },
    ],
    [
      "time-driven alerts",
      async () => {
        const r = await detectScheduled(database(env.DB), now);
        if (r.deliveries.length > 0) await enqueueDeliveries(env.WEBHOOK_QUEUE, r.deliveries);
        return `${r.raised} raised`;
      },
    ],
    [
      "unused-key policy",
      async () => {
        const r = await enforceUnusedPolicy(database(env.DB), env.EDGE_RECORDS, now);
        if (r.deliveries.length > 0) await enqueueDeliveries(env.WEBHOOK_QUEUE, r.deliveries);
        const pass = r.passCompleted ? "pass complete" : `continues after seq ${r.examinedUpTo}`;
        return `${r.noticed} noticed, ${r.revoked} revoked, ${pass} (${r.d1Queries} D1 queries, ${r.kvWrites} KV writes)`;
      },
    ],
    ["stranded webhook deliveries", async () => `${await resendStranded(env, now, STRANDED_DELIVERY_GRACE_SECONDS)} re-sent`],
    ["retention", async () => `${await pruneUsage(env.DB, usageConfig(env), now)} rows pruned`],
    ["audit retention", async () => `${await pruneAudit(env.DB, auditRetentionDays(env), now)} rows pruned`],
  ];
  for (const [name, task] of tasks) {
    try {
      console.log(`${name}: ${await task()}`);
    } catch (err) {
      console.error(`${name} failed`, err);
    }
  }
}
