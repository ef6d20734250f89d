-- 0004: the dashboard's login sparklines, from an index.
--
-- Logins and failed logins per minute over the last hour (AuditHistogram):
-- two ranges of this index, read without the table, however long the audit
-- table grows. Audit rows are appended, never updated: no cost but the
-- insert of each login's entry. (The grouping's indexes need the minute
-- buckets of 0005: they are in 0007.)
CREATE INDEX audit_action_time ON audit (action, time);
