-- 0007: the dashboard's grouping of active sessions by user and by IP
-- (GroupActive), from indexes.
--
-- Grouping counts every active session, so it must not read the table row
-- by row: through the (username, id) index SQLite would look up each row
-- for its expiry (9.7 s at 1M, migration 0002). These partial indexes hold
-- what the grouping reads, in key order. They hold the expiry's minute
-- bucket of 0005, not expires_at or last_activity, so a Touch moves their
-- entries only when a session's bucket changes (at most once a minute, with
-- the trigger of 0005), never on every request: a session is active when
-- its bucket is later than now's, and only the rows of now's own bucket are
-- checked against expires_at in the table.
CREATE INDEX sessions_active_by_user ON sessions (username, expires_bucket, ip, role, login_time)
    WHERE ended_at IS NULL;
CREATE INDEX sessions_active_by_ip   ON sessions (ip, expires_bucket, username, role, login_time)
    WHERE ended_at IS NULL;
