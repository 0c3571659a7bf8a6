-- Quotas, limit groups and quota alerts (issue 19, docs/quotas.md).

-- A key's quota ({"limit": n, "period": "day"|"month"|"none"}, JSON) and the limit group it counts
-- against as well as its own limits (a limit_groups.id of the same tenant).
ALTER TABLE api_keys ADD COLUMN quota TEXT;
ALTER TABLE api_keys ADD COLUMN limit_group TEXT;
CREATE INDEX api_keys_limit_group ON api_keys (limit_group, seq) WHERE limit_group IS NOT NULL;

-- Shared budgets: one exact counter (Durable Object) per group, holding the group's policies.
CREATE TABLE limit_groups (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,                 -- grp-<uuid>
  tenant_id TEXT NOT NULL,
  name TEXT NOT NULL,
  rate_limits TEXT,                        -- JSON array of {name, limit, window_seconds}, as a key's
  quota TEXT,                              -- JSON {limit, period}, as a key's
  created_at INTEGER NOT NULL,
  created_by TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX limit_groups_tenant_seq ON limit_groups (tenant_id, seq DESC);

-- quota_low: alert when at most this percent of a quota remains (NULL: the default, 10; 0: off).
ALTER TABLE tenant_settings ADD COLUMN quota_low_percent INTEGER;

-- The edge record's change-feed triggers and the reconciler's partial index learn about quota and
-- limit_group in migrations/0012 (after 0011 rewrote them for metadata).
