-- Refused management attempts by callers who are not members of the tenant named in the path (no
-- credential, a bad one, another tenant's user or key). They never write that tenant's audit log
-- (DESIGN.md invariant 10): anyone could otherwise fill any tenant's log. They are counted here
-- for the operator instead, one row per (hour, tenant, actor, error) with a count, at most a fixed
-- number of rows per hour (src/audit/refusals.ts; past it, into one overflow row of the hour whose
-- text columns are '*'), pruned after AUDIT_RETENTION_DAYS. docs/management-security.md shows how
-- to read it.
CREATE TABLE management_refusals (
  hour INTEGER NOT NULL,
  tenant_id TEXT NOT NULL,
  actor_kind TEXT NOT NULL,
  actor_id TEXT NOT NULL,
  error TEXT NOT NULL,
  count INTEGER NOT NULL,
  first_at INTEGER NOT NULL,
  last_at INTEGER NOT NULL,
  last_ip TEXT,
  last_user_agent TEXT,
  PRIMARY KEY (hour, tenant_id, actor_kind, actor_id, error)
);

-- Audit retention (src/audit/retention.ts) deletes the entries older than AUDIT_RETENTION_DAYS in
-- bounded batches; this index lets each batch find them without scanning the log.
CREATE INDEX audit_log_at ON audit_log (at);
