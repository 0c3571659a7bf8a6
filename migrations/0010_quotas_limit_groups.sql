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

-- The edge record now also carries the quota and the limit group: they join the change feed, and the
-- reconciler's partial index.
DROP TRIGGER api_keys_edge_change_insert;
CREATE TRIGGER api_keys_edge_change_insert AFTER INSERT ON api_keys
WHEN NEW.revoked = 1 OR NEW.rotation_cutoff_at IS NOT NULL OR NEW.rate_limits IS NOT NULL OR NEW.allowed_ips IS NOT NULL
  OR NEW.quota IS NOT NULL OR NEW.limit_group IS NOT NULL
BEGIN
  INSERT INTO edge_changes (key_id, at) VALUES (NEW.id, CAST(strftime('%s', 'now') AS INTEGER));
END;

DROP TRIGGER api_keys_edge_change_update;
CREATE TRIGGER api_keys_edge_change_update AFTER UPDATE ON api_keys
WHEN OLD.revoked IS NOT NEW.revoked OR OLD.revoked_at IS NOT NEW.revoked_at
  OR OLD.rotation_cutoff_at IS NOT NEW.rotation_cutoff_at
  OR OLD.rate_limits IS NOT NEW.rate_limits OR OLD.allowed_ips IS NOT NEW.allowed_ips
  OR OLD.quota IS NOT NEW.quota OR OLD.limit_group IS NOT NEW.limit_group
BEGIN
  INSERT INTO edge_changes (key_id, at) VALUES (NEW.id, CAST(strftime('%s', 'now') AS INTEGER));
END;

DROP INDEX api_keys_edge_record_id;
CREATE INDEX api_keys_edge_record_id ON api_keys (id)
  WHERE revoked = 1 OR rotation_cutoff_at IS NOT NULL OR rate_limits IS NOT NULL OR allowed_ips IS NOT NULL
    OR quota IS NOT NULL OR limit_group IS NOT NULL;
