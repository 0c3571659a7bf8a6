-- Per-key abuse protection: rate limits and IP allowlists travel to the edge in the key's edge record.
ALTER TABLE api_keys ADD COLUMN rate_limits TEXT;   -- JSON array of {name, limit, window_seconds}; NULL = none
ALTER TABLE api_keys ADD COLUMN allowed_ips TEXT;   -- JSON array of canonical addresses / CIDR ranges; NULL = any

-- The reconciler scans every key the edge must know something about.
DROP INDEX api_keys_edge_state;
CREATE INDEX api_keys_edge_record ON api_keys (seq)
  WHERE revoked = 1 OR rotation_cutoff_at IS NOT NULL OR rate_limits IS NOT NULL OR allowed_ips IS NOT NULL;
