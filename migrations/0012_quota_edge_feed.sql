-- Issue 19: the edge record carries a key's quota and limit group (migrations/0010), so the change
-- feed's triggers and the reconciler's partial index learn about them like the other edge columns.
-- Written after 0011 (which rewrote them for metadata), with every edge column.
DROP TRIGGER api_keys_edge_change_insert;
DROP TRIGGER api_keys_edge_change_update;
CREATE TRIGGER api_keys_edge_change_insert AFTER INSERT ON api_keys
WHEN NEW.revoked = 1 OR NEW.rotation_cutoff_at IS NOT NULL OR NEW.rate_limits IS NOT NULL OR NEW.allowed_ips IS NOT NULL
  OR NEW.metadata IS NOT NULL OR NEW.quota IS NOT NULL OR NEW.limit_group IS NOT NULL
BEGIN
  INSERT INTO edge_changes (key_id, at) VALUES (NEW.id, CAST(strftime('%s', 'now') AS INTEGER));
END;
CREATE TRIGGER api_keys_edge_change_update AFTER UPDATE ON api_keys
WHEN OLD.revoked IS NOT NEW.revoked OR OLD.revoked_at IS NOT NEW.revoked_at
  OR OLD.rotation_cutoff_at IS NOT NEW.rotation_cutoff_at
  OR OLD.rate_limits IS NOT NEW.rate_limits OR OLD.allowed_ips IS NOT NEW.allowed_ips
  OR OLD.metadata IS NOT NEW.metadata
  OR OLD.quota IS NOT NEW.quota OR OLD.limit_group IS NOT NEW.limit_group
BEGIN
  INSERT INTO edge_changes (key_id, at) VALUES (NEW.id, CAST(strftime('%s', 'now') AS INTEGER));
END;
DROP INDEX api_keys_edge_record_id;
CREATE INDEX api_keys_edge_record_id ON api_keys (id)
  WHERE revoked = 1 OR rotation_cutoff_at IS NOT NULL OR rate_limits IS NOT NULL OR allowed_ips IS NOT NULL OR metadata IS NOT NULL
    OR quota IS NOT NULL OR limit_group IS NOT NULL;
