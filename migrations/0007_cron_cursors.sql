-- Capacity (issue 17): cron tasks that walk every key resume from a cursor across runs, so no run
-- exceeds a Worker invocation's limits (1,000 D1 queries, 1,000 KV operations) at a million keys.
CREATE TABLE cron_cursors (
  name TEXT PRIMARY KEY,                   -- the task: 'reconcile-edge-records'
  cursor TEXT NOT NULL,                    -- the task's own position (JSON)
  updated_at INTEGER NOT NULL              -- unix seconds
);

-- The reconciler walks the keys the edge must know something about in id order (the order of KV's
-- list), a page per KV page; the seq-ordered index it walked before is no longer read.
DROP INDEX api_keys_edge_record;
CREATE INDEX api_keys_edge_record_id ON api_keys (id)
  WHERE revoked = 1 OR rotation_cutoff_at IS NOT NULL OR rate_limits IS NOT NULL OR allowed_ips IS NOT NULL;
