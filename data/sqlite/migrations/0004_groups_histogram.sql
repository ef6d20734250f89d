-- 0004: the dashboard's groupings and login sparklines, from indexes.
--
-- Grouping active sessions by user or by IP (GroupActive) counts every
-- active session, so it must not read the table: through the existing
-- (username, id) index SQLite would look up each row for its expiry, as
-- Stats once did (9.7 s at 1M, migration 0002). These covering partial
-- indexes hold every column the grouping names, in key order: one scan of
-- the index, no table lookups, no temporary B-tree for the GROUP BY.
-- Cost: Touch moves expires_at and last_activity, so each moves one more
-- entry per request (docs/PERFORMANCE.md has the measured cost).
CREATE INDEX sessions_active_by_user ON sessions (username, expires_at, ip, role, login_time, last_activity)
    WHERE ended_at IS NULL;
CREATE INDEX sessions_active_by_ip   ON sessions (ip, expires_at, username, role, login_time, last_activity)
    WHERE ended_at IS NULL;

-- Logins and failed logins per minute over the last hour (AuditHistogram):
-- two ranges of this index, read without the table, however long the audit
-- table grows. Audit rows are appended, never updated: no cost but the
-- insert of each login's entry.
CREATE INDEX audit_action_time ON audit (action, time);
