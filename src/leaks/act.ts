/**
 * The one place keygate acts on a leaked live key, whoever reported it (GitHub secret scanning, or
 * anyone through POST /api/v1/leaks/report): at once, by the tenant's `leak_action` (default
 * "revoke"). Revoking goes through the key service, so D1, the audit log, KV and this isolate's
 * edge cache change exactly as for a management revoke; "notify" changes nothing but records the
 * report. Either way the audit entry's actor is `leak-report`, with where the key was found.
 */

import { raiseAlert } from "../alerts/raise";
import { tenantSettingsOf } from "../alerts/settings";
import { type LeakReportActor, leakReportEntry } from "../audit/entry";
import { insertAudit } from "../db/audit-repo";
import type { ApiKeyRow } from "../db/schema";
import { REASON_MAX_LENGTH } from "../keys/requests";
import { type KeyServiceDeps, revokeLeakedKey } from "../keys/service";
import type { LeakAction } from "../vocab/events.mjs";

/** Keys acted on at once; a GitHub batch rarely holds more than a few live keys of one deployment. */
const LEAK_ACTION_CONCURRENCY = 8;

export interface LeakedKey {
  row: ApiKeyRow;
  /** Where it was found (GitHub's url, or the reporter's), free of control characters; null when not given. */
  url: string | null;
}

/** What was done about one leaked key: what the key.leaked alert and webhook carry. */
export interface LeakHandled {
  tenant: string;
  keyId: string;
  action: LeakAction;
  reporter: string;
  url: string | null;
  at: number;
}

const REPORTERS: Record<string, string> = { github: "GitHub secret scanning", "public-report": "a public leak report" };

function revokeReason(reporter: string, url: string | null): string {
  const reason = `leaked: reported by ${REPORTERS[reporter] ?? reporter}${url ? ` (found at ${url})` : ""}`;
  return reason.length > REASON_MAX_LENGTH ? `${reason.slice(0, REASON_MAX_LENGTH - 1)}…` : reason;
}

async function actOn(deps: KeyServiceDeps, actor: LeakReportActor, leak: LeakedKey, action: LeakAction): Promise<LeakHandled> {
  const { tenantId: tenant, id: keyId } = leak.row;
  if (action === "revoke") {
    await revokeLeakedKey(
      deps,
      tenant,
      keyId,
      { at: actor.now, by: `leak-report:${actor.reporter}`, reason: revokeReason(actor.reporter, leak.url) },
      leakReportEntry(actor, tenant, keyId, "revoke", leak.url),
    );
  } else {
    await insertAudit(deps.db, leakReportEntry(actor, tenant, keyId, "leak_report", leak.url));
  }
  const handled: LeakHandled = { tenant, keyId, action, reporter: actor.reporter, url: leak.url, at: actor.now };
  console.log(`leaked key ${keyId} of tenant ${tenant} reported by ${actor.reporter}: ${action === "revoke" ? "revoked" : "notify only"}`);
  // The key.leaked alert and webhook, once per key: after the revocation (or the notify-only audit
  // entry) is stored, so a failure here never undoes the action; it is logged.
  try {
    await raiseAlert(deps.db, deps.record.deliver, {
      tenant,
      type: "key.leaked",
      keyId,
      dedupeKey: `key.leaked:${keyId}`,
      details: { action, reporter: actor.reporter, url: leak.url },
      now: actor.now,
    });
  } catch (err) {
    console.error(`raising the key.leaked alert for ${keyId} failed`, err);
  }
  return handled;
}

/**
 * Acts on each live leaked key once (the first url reported for it wins), by its tenant's policy.
 * A failure propagates (GitHub then retries the batch; keys already revoked are no longer live).
 */
export async function actOnLeakedKeys(deps: KeyServiceDeps, actor: LeakReportActor, leaks: readonly LeakedKey[]): Promise<LeakHandled[]> {
  const byKey = new Map<string, LeakedKey>();
  for (const leak of leaks) if (!byKey.has(leak.row.id)) byKey.set(leak.row.id, leak);
  const unique = [...byKey.values()];
  const tenants = [...new Set(unique.map((l) => l.row.tenantId))];
  const policies = await Promise.all(
    tenants.map(async (t): Promise<[string, LeakAction]> => [t, (await tenantSettingsOf(deps.db, t)).leak_action]),
  );
  const policy = new Map(policies);
  const handled: LeakHandled[] = [];
  for (let i = 0; i < unique.length; i += LEAK_ACTION_CONCURRENCY) {
    const chunk = unique.slice(i, i + LEAK_ACTION_CONCURRENCY);
    handled.push(...(await Promise.all(chunk.map((leak) => actOn(deps, actor, leak, policy.get(leak.row.tenantId) as LeakAction)))));
  }
  return handled;
}
