-- 0004: the dashboard's groupings and login sparklines, from indexes.
--
-- Grouping active sessions by user or by IP (GroupActive) counts every
-- active session. These partial indexes carry every column the grouping
-- reads (INCLUDE), in key order, so the planner can answer it with an
-- index-only scan and a GroupAggregate instead of reading the table.
-- Cost: Touch is never a HOT update (it changes indexed columns), so each
-- index takes one more entry per request (docs/PERFORMANCE.md has the
-- measured cost).
CREATE INDEX sessions_active_by_user_idx ON sessions (username, expires_at)
    INCLUDE (ip, role, login_time, last_activity) WHERE ended_at IS NULL;
CREATE INDEX sessions_active_by_ip_idx   ON sessions (ip, expires_at)
    INCLUDE (username, role, login_time, last_activity) WHERE ended_at IS NULL;

-- Logins and failed logins per minute over the last hour (AuditHistogram):
-- two ranges of this index, however long the audit table grows.
CREATE INDEX audit_action_time_idx ON audit (action, time);
