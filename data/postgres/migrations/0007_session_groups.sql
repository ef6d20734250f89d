-- 0007: the dashboard's grouping of active sessions by user and by IP
-- (GroupActive), from indexes.
--
-- Grouping counts every active session; these partial indexes hold what it
-- reads (INCLUDE) in key order. They hold the expiry's minute bucket of
-- 0005, never expires_at or last_activity, so a Touch stays a HOT update
-- (0005) except when a session's bucket changes, at most once a minute, as
-- with 0005's own expiry index: a session is active when its bucket is
-- later than now's, and only the rows of now's bucket are checked against
-- expires_at in the table.
CREATE INDEX sessions_active_by_user_idx ON sessions (username, expires_bucket)
    INCLUDE (ip, role, login_time) WHERE ended_at IS NULL;
CREATE INDEX sessions_active_by_ip_idx   ON sessions (ip, expires_bucket)
    INCLUDE (username, role, login_time) WHERE ended_at IS NULL;
