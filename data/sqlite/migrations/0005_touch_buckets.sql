-- 0005: a touch rewrites as few pages as it can (issue 11).
--
-- Every authenticated request touches its session (last_activity and a slid
-- expires_at). SQLite rewrites an index entry whenever a column of the
-- index is in an UPDATE's SET list, so a touch used to rewrite the table row
-- and its entries in the expiry, activity, role and version indexes: five
-- B-tree pages, five WAL frames, per request. Touch no longer writes
-- version (data.Store.Touch), and the listings by expiry and by last
-- activity now use a minute bucket of each (the unix-microsecond value
-- divided by 60,000,000, which never decreases as the value grows), so
-- ordering by (bucket, value, id) is exactly ordering by (value, id): the
-- index finds the first bucket and SQLite sorts each bucket's rows as it
-- goes (a temp B-tree for the right part of the ORDER BY).
--
-- Touch's SET list names only last_activity and expires_at, which no index
-- on the listings holds any more; the trigger below moves the buckets when
-- they change, at most once a minute per session, in the same statement.
-- The role index of 0002 keeps expires_at, so Stats stays an index-only
-- scan; that entry still moves with every touch.
ALTER TABLE sessions ADD COLUMN activity_bucket INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN expires_bucket  INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET activity_bucket = last_activity / 60000000, expires_bucket = expires_at / 60000000;

CREATE TRIGGER sessions_buckets_insert AFTER INSERT ON sessions
WHEN NEW.activity_bucket IS NOT NEW.last_activity / 60000000
  OR NEW.expires_bucket IS NOT NEW.expires_at / 60000000
BEGIN
    UPDATE sessions SET activity_bucket = NEW.last_activity / 60000000, expires_bucket = NEW.expires_at / 60000000
    WHERE rowid = NEW.rowid;
END;
CREATE TRIGGER sessions_buckets_update AFTER UPDATE OF last_activity, expires_at ON sessions
WHEN NEW.activity_bucket IS NOT NEW.last_activity / 60000000
  OR NEW.expires_bucket IS NOT NEW.expires_at / 60000000
BEGIN
    UPDATE sessions SET activity_bucket = NEW.last_activity / 60000000, expires_bucket = NEW.expires_at / 60000000
    WHERE rowid = NEW.rowid;
END;

DROP INDEX sessions_active_expires;
DROP INDEX sessions_active_activity;
CREATE INDEX sessions_active_expires  ON sessions (expires_bucket)  WHERE ended_at IS NULL;
CREATE INDEX sessions_active_activity ON sessions (activity_bucket) WHERE ended_at IS NULL;
