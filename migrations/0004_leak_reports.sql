-- Leak reports (issue 12): an audit entry written on a leak report's behalf records where the key
-- was found. NULL for every other entry, which the audit view then leaves out.
ALTER TABLE audit_log ADD COLUMN source_url TEXT;
