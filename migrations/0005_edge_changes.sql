-- The change feed of edge records: every change to what the data plane must know about a key
-- (revoked, rotated, rate limits, allowlist) appends a row, written by D1 itself in the same
-- statement as the change, so no code path can forget it. Isolates poll it in the background
-- (src/keys/edge-feed.ts) and keep their cached records current without re-reading KV.
-- `at` is unix seconds by D1's clock. Rows older than a day are pruned by the cron.
CREATE TABLE edge_changes (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  key_id TEXT NOT NULL,
  at INTEGER NOT NULL
);
CREATE INDEX edge_changes_at ON edge_changes (at);

CREATE TRIGGER api_keys_edge_change_insert AFTER INSERT ON api_keys
WHEN NEW.revoked = 1 OR NEW.rotation_cutoff_at IS NOT NULL OR NEW.rate_limits IS NOT NULL OR NEW.allowed_ips IS NOT NULL
BEGIN
  INSERT INTO edge_changes (key_id, at) VALUES (NEW.id, CAST(strftime('%s', 'now') AS INTEGER));
END;

CREATE TRIGGER api_keys_edge_change_update AFTER UPDATE ON api_keys
WHEN OLD.revoked IS NOT NEW.revoked OR OLD.revoked_at IS NOT NEW.revoked_at
  OR OLD.rotation_cutoff_at IS NOT NEW.rotation_cutoff_at
  OR OLD.rate_limits IS NOT NEW.rate_limits OR OLD.allowed_ips IS NOT NEW.allowed_ips
BEGIN
  INSERT INTO edge_changes (key_id, at) VALUES (NEW.id, CAST(strftime('%s', 'now') AS INTEGER));
END;
