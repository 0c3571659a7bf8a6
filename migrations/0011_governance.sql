-- Governance (issue 20): which scope satisfied each accepted gateway request, the unused-key
-- policy's tenant settings and per-key exemption, and key metadata in the edge record.

-- Per key, scope and UTC day: the accepted requests a scope of the key satisfied (a wildcard or
-- admin:all records the scope the route rule asked for) and the latest of them. Written by the
-- usage roll-up, one multi-row statement per batch; pruned with the day roll-ups.
CREATE TABLE scope_usage (
  tenant_id TEXT NOT NULL,
  key_id TEXT NOT NULL,
  scope TEXT NOT NULL,
  day INTEGER NOT NULL,                    -- unix seconds at 00:00 UTC
  count INTEGER NOT NULL,
  last_at INTEGER NOT NULL,                -- unix seconds
  PRIMARY KEY (key_id, scope, day)
);
CREATE INDEX scope_usage_tenant_day ON scope_usage (tenant_id, day);
CREATE INDEX scope_usage_day ON scope_usage (day);

-- The unused-key policy (off: NULL or 0). A key unused (or never used) for
-- revoke_unused_after_days - unused_notice_days raises key_unused; at revoke_unused_after_days the
-- cron revokes it (actor 'policy').
ALTER TABLE tenant_settings ADD COLUMN revoke_unused_after_days INTEGER;
ALTER TABLE tenant_settings ADD COLUMN unused_notice_days INTEGER;

-- Break-glass keys opt out of that policy.
ALTER TABLE api_keys ADD COLUMN exempt_from_unused_policy INTEGER NOT NULL DEFAULT 0;

-- Key metadata is forwarded to the origin (FORWARD_KEY_META), so the edge record carries it: the
-- change feed and the reconciler's index learn about it like the other edge columns.
DROP TRIGGER api_keys_edge_change_insert;
DROP TRIGGER api_keys_edge_change_update;
CREATE TRIGGER api_keys_edge_change_insert AFTER INSERT ON api_keys
WHEN NEW.revoked = 1 OR NEW.rotation_cutoff_at IS NOT NULL OR NEW.rate_limits IS NOT NULL OR NEW.allowed_ips IS NOT NULL
  OR NEW.metadata IS NOT NULL
BEGIN
  INSERT INTO edge_changes (key_id, at) VALUES (NEW.id, CAST(strftime('%s', 'now') AS INTEGER));
END;
CREATE TRIGGER api_keys_edge_change_update AFTER UPDATE ON api_keys
WHEN OLD.revoked IS NOT NEW.revoked OR OLD.revoked_at IS NOT NEW.revoked_at
  OR OLD.rotation_cutoff_at IS NOT NEW.rotation_cutoff_at
  OR OLD.rate_limits IS NOT NEW.rate_limits OR OLD.allowed_ips IS NOT NEW.allowed_ips
  OR OLD.metadata IS NOT NEW.metadata
BEGIN
  INSERT INTO edge_changes (key_id, at) VALUES (NEW.id, CAST(strftime('%s', 'now') AS INTEGER));
END;
DROP INDEX api_keys_edge_record_id;
CREATE INDEX api_keys_edge_record_id ON api_keys (id)
  WHERE revoked = 1 OR rotation_cutoff_at IS NOT NULL OR rate_limits IS NOT NULL OR allowed_ips IS NOT NULL OR metadata IS NOT NULL;
