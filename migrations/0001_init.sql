-- keygate schema. D1 is the source of truth; KV only mirrors what the data plane must read.

CREATE TABLE api_keys (
  -- Monotonic insertion order: list pagination and "newest first" use it, not wall-clock time.
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,                 -- "key-" + UUID, also the token's key_id claim
  tenant_id TEXT NOT NULL,
  name TEXT NOT NULL,
  scopes TEXT NOT NULL,                    -- JSON array of scope strings
  created_at INTEGER NOT NULL,             -- unix seconds
  expires_at INTEGER,                      -- unix seconds; NULL = never expires
  expires_in_days INTEGER NOT NULL,        -- lifetime asked for at creation (0 = never), inherited by rotation
  last_used INTEGER,                       -- unix seconds, written off the request path
  revoked INTEGER NOT NULL DEFAULT 0,
  revoked_at INTEGER,
  revoked_by TEXT,                         -- actor id ("user:<sub>" or "key:<id>")
  revoke_reason TEXT,
  created_by TEXT NOT NULL,                -- actor id of the creator
  subject TEXT NOT NULL,                   -- the token's sub claim
  jti TEXT NOT NULL,
  kid TEXT NOT NULL,                       -- signing key that signed the token
  metadata TEXT,                           -- JSON object, <= 1 KiB
  rotated_from TEXT,
  replaced_by TEXT,
  rotation_cutoff_at INTEGER,              -- unix seconds after which a rotated-away key is refused
  updated_at INTEGER NOT NULL
);

CREATE INDEX api_keys_tenant_seq ON api_keys (tenant_id, seq DESC);
-- The reconciler scans keys whose state the edge must know.
CREATE INDEX api_keys_edge_state ON api_keys (revoked, rotation_cutoff_at);

CREATE TABLE audit_log (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,                 -- "evt-" + UUID
  at INTEGER NOT NULL,                     -- unix seconds
  tenant_id TEXT NOT NULL,
  actor_kind TEXT NOT NULL,                -- 'user' | 'key' | 'anonymous'
  actor_id TEXT,
  action TEXT NOT NULL,                    -- 'create' | 'rotate' | 'update' | 'revoke' | 'list' | 'get' | 'audit'
  target_key_id TEXT,
  outcome TEXT NOT NULL,                   -- 'success' | 'denied' | 'invalid' | 'not_found' | 'conflict' | 'error'
  status INTEGER NOT NULL,                 -- HTTP status returned
  error TEXT,                              -- error code returned, if any
  ip TEXT,
  user_agent TEXT
);

CREATE INDEX audit_log_tenant_seq ON audit_log (tenant_id, seq DESC);
CREATE INDEX audit_log_tenant_key ON audit_log (tenant_id, target_key_id, seq DESC);
