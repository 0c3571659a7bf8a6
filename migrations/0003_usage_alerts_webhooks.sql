-- Usage analytics, alerts and webhooks (issue 9). Written off the request path by the usage
-- queue's consumer, the cron and the management API; read by the usage, alerts and webhooks APIs.

-- A usage message (a batch of events from one isolate) is rolled up once: its id is inserted in
-- the same transaction as its counts, so a redelivered message changes nothing.
CREATE TABLE usage_batches (
  id TEXT PRIMARY KEY,
  applied_at INTEGER NOT NULL               -- unix seconds
);
CREATE INDEX usage_batches_applied ON usage_batches (applied_at);

-- Requests by outcome per key per minute / hour / day. Refusals no verified key owns (forged or
-- garbage tokens, missing keys, public routes) are counted with tenant_id = '' and key_id = ''.
CREATE TABLE usage_counts (
  granularity TEXT NOT NULL,                -- 'minute' | 'hour' | 'day'
  tenant_id TEXT NOT NULL,
  key_id TEXT NOT NULL,
  bucket INTEGER NOT NULL,                  -- unix seconds at the bucket's start
  outcome TEXT NOT NULL,                    -- 'accepted' or a refusal reason
  count INTEGER NOT NULL,
  PRIMARY KEY (granularity, tenant_id, key_id, bucket, outcome)
) WITHOUT ROWID;
CREATE INDEX usage_counts_tenant_bucket ON usage_counts (granularity, tenant_id, bucket);
CREATE INDEX usage_counts_prune ON usage_counts (granularity, bucket);

-- Refused requests per client per hour, per tenant they were attributed to ('' when no verified
-- key owns them): refusal bursts from one client, against one tenant or the whole deployment.
CREATE TABLE client_refusals (
  hour INTEGER NOT NULL,
  tenant_id TEXT NOT NULL,
  ip TEXT NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (hour, tenant_id, ip)
) WITHOUT ROWID;

-- The client addresses a key has been used from (requests its signature verified).
CREATE TABLE key_ips (
  tenant_id TEXT NOT NULL,
  key_id TEXT NOT NULL,
  ip TEXT NOT NULL,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  count INTEGER NOT NULL,
  country TEXT,
  PRIMARY KEY (key_id, ip)
) WITHOUT ROWID;
CREATE INDEX key_ips_tenant_key ON key_ips (tenant_id, key_id, last_seen DESC);
CREATE INDEX key_ips_last_seen ON key_ips (last_seen);

-- Usage events that could not be delivered and were dropped, per day (deployment-wide).
CREATE TABLE usage_losses (
  day INTEGER PRIMARY KEY,
  events INTEGER NOT NULL
);

-- Per-tenant alert settings and policies; NULL means the default (defaults live in src/alerts/settings.ts).
CREATE TABLE tenant_settings (
  tenant_id TEXT PRIMARY KEY,
  volume_per_hour INTEGER,
  new_ip INTEGER,
  refusals_per_hour INTEGER,
  expiring_within_days INTEGER,
  unused_days INTEGER,
  leak_action TEXT,
  updated_at INTEGER NOT NULL
);

CREATE TABLE alerts (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,                  -- "alert-" + UUID
  tenant_id TEXT NOT NULL,
  type TEXT NOT NULL,
  key_id TEXT,
  -- One alert per condition and cooldown period: e.g. "volume:<key>:<hour>".
  dedupe_key TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  details TEXT NOT NULL,                    -- JSON object
  acknowledged_at INTEGER,
  acknowledged_by TEXT
);
CREATE INDEX alerts_tenant_seq ON alerts (tenant_id, seq DESC);
CREATE INDEX alerts_created ON alerts (created_at);

CREATE TABLE webhooks (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,                  -- "wh-" + UUID
  tenant_id TEXT NOT NULL,
  url TEXT NOT NULL,
  events TEXT NOT NULL,                     -- JSON array of event types
  secret TEXT NOT NULL,                     -- the signing secret, as shown once at registration
  created_at INTEGER NOT NULL,
  created_by TEXT NOT NULL
);
CREATE INDEX webhooks_tenant ON webhooks (tenant_id, seq DESC);

-- One event to one webhook; inserted in the same transaction as what caused it (an outbox), then
-- sent through the webhook queue with retries. The cron re-sends deliveries a lost message stranded.
CREATE TABLE webhook_deliveries (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,                  -- "dlv-" + UUID
  webhook_id TEXT NOT NULL,
  tenant_id TEXT NOT NULL,
  event_id TEXT NOT NULL,                   -- "evt-" + UUID, the receiver's idempotency key
  event_type TEXT NOT NULL,
  payload TEXT NOT NULL,                    -- the exact JSON body sent (and signed)
  status TEXT NOT NULL,                     -- 'pending' | 'succeeded' | 'failed'
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER,                  -- unix seconds; NULL once final
  last_status INTEGER,
  last_error TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, seq DESC);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);

CREATE TABLE webhook_attempts (
  delivery_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  at INTEGER NOT NULL,
  response_status INTEGER,
  error TEXT,
  duration_ms INTEGER NOT NULL,
  PRIMARY KEY (delivery_id, attempt)
) WITHOUT ROWID;
