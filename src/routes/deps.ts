/** What the key service needs from the environment, assembled once per request. */
import { signingKeys } from "../auth/signing-keys";
import { keyConfig, scopeLifetimePolicy } from "../config/keys";
import { database } from "../db/client";
import type { Env } from "../env";
import type { KeyServiceDeps } from "../keys/service";

export async function serviceDeps(env: Env): Promise<KeyServiceDeps> {
  return {
    db: database(env.DB),
    kv: env.EDGE_RECORDS,
    webhooks: env.WEBHOOK_QUEUE,
    ring: await signingKeys(env.SIGNING_KEYS),
    keyConfig: keyConfig(env),
    lifetimePolicy: scopeLifetimePolicy(env),
  };
}
