-- 0005: make Touch a heap-only (HOT) update.
--
-- PostgreSQL can update a row in place on its page, without a new entry in
-- any index (a HOT update), only when no indexed column changes value and
-- the page has room. Before this migration every Touch changed three
-- indexed columns (last_activity, expires_at, version), so every
-- authenticated request wrote a new heap tuple plus an entry in each index
-- that matched the row: WAL, CPU and bloat on every request (issue 11).
--
-- Now:
--   - last_activity and expires_at stay exact but are no longer indexed.
--     The listings by expiry and by last activity use a coarse bucket of
--     each (the value floored to the minute), kept by PostgreSQL as a
--     stored generated column, so it can never disagree with the exact
--     value. A bucket changes at most once a minute per session; in that
--     minute's other touches no indexed value changes. Because the bucket
--     is a non-decreasing function of the exact value, ordering by
--     (bucket, exact, id) is exactly ordering by (exact, id): the index
--     finds the first bucket, the rows are sorted within it at read time
--     (Incremental Sort), and keyset cursors are unchanged.
--   - Touch no longer raises version (data.go says why), so the unique
--     version index is not written by it either.
--   - fillfactor leaves room on each page for the new row versions that
--     HOT keeps on the same page; page pruning reclaims the old ones without
--     VACUUM, so the table stays flat under load.
--
-- A partial index's predicate columns count as indexed for HOT: every
-- partial index here tests ended_at, which Touch never writes.
--
-- Adding a stored generated column rewrites the table once (an ACCESS
-- EXCLUSIVE lock for the duration): run it in a quiet moment on a big
-- table. fillfactor is set first so the rewrite already leaves the room.
ALTER TABLE sessions SET (fillfactor = 70);
ALTER TABLE sessions
    ADD COLUMN activity_bucket timestamptz NOT NULL
        GENERATED ALWAYS AS (date_bin('1 minute', last_activity, timestamptz '2000-01-01 00:00:00+00')) STORED,
    ADD COLUMN expires_bucket timestamptz NOT NULL
        GENERATED ALWAYS AS (date_bin('1 minute', expires_at, timestamptz '2000-01-01 00:00:00+00')) STORED;

DROP INDEX sessions_active_expires_idx;
DROP INDEX sessions_active_activity_idx;
CREATE INDEX sessions_active_expires_idx  ON sessions (expires_bucket)  WHERE ended_at IS NULL;
CREATE INDEX sessions_active_activity_idx ON sessions (activity_bucket) WHERE ended_at IS NULL;
