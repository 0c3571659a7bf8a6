/** What the key service needs from the environment, assembled once per request. */
import { auditEntry } from "../audit/entry";
import { signingKeys } from "../auth/signing-keys";
import { keyConfig, scopeLifetimePolicy } from "../config/keys";
import { database } from "../db/client";
import type { Env } from "../env";
import type { KeyServiceDeps } from "../keys/service";
import { enqueueDeliveries } from "../webhooks/deliver";
import { keyEventSql } from "../webhooks/outbox";

export async function serviceDeps(env: Env): Promise<KeyServiceDeps> {
  return {
    db: database(env.DB),
    kv: env.EDGE_RECORDS,
    record: { audit: auditEntry, event: keyEventSql, deliver: (deliveries) => enqueueDeliveries(env.WEBHOOK_QUEUE, deliveries) },
    ring: await signingKeys(env.SIGNING_KEYS),
    keyConfig: keyConfig(env),
    lifetimePolicy: scopeLifetimePolicy(env),
  };
}
