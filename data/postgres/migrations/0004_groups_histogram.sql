-- 0004: the dashboard's login sparklines, from an index.
--
-- Logins and failed logins per minute over the last hour (AuditHistogram):
-- two ranges of this index, however long the audit table grows. (The
-- grouping's indexes need the minute buckets of 0005: they are in 0007.)
CREATE INDEX audit_action_time_idx ON audit (action, time);
