-- 0001: users, sessions, audit, the version counter.
--
-- Times are INTEGER unix microseconds, UTC: comparisons are exact and cheap
-- and every value round-trips to a time.Time truncated to the microsecond.
-- NULL means "none" (a session not ended, one with no absolute limit).
-- Tables are STRICT, so a value of the wrong type (a timestamp written by
-- hand as text) is refused at write time instead of surfacing on read.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    email         TEXT    NOT NULL DEFAULT '',
    full_name     TEXT    NOT NULL DEFAULT '',
    role          TEXT    NOT NULL DEFAULT '',
    status        TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
    password_hash TEXT    NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL
) STRICT;

-- id is the hex SHA-256 of the cookie token; the token is never stored.
-- The user columns are the user as they were at login.
CREATE TABLE sessions (
    id                  TEXT    PRIMARY KEY,
    user_id             INTEGER NOT NULL REFERENCES users (id),
    username            TEXT    NOT NULL,
    email               TEXT    NOT NULL DEFAULT '',
    full_name           TEXT    NOT NULL DEFAULT '',
    role                TEXT    NOT NULL DEFAULT '',
    status              TEXT    NOT NULL DEFAULT '',
    data                TEXT    NOT NULL DEFAULT '{}',
    ip                  TEXT    NOT NULL DEFAULT '',
    user_agent          TEXT    NOT NULL DEFAULT '',
    login_time          INTEGER NOT NULL,
    last_activity       INTEGER NOT NULL,
    expires_at          INTEGER NOT NULL,
    absolute_expires_at INTEGER,
    ended_at            INTEGER,
    end_reason          TEXT    NOT NULL DEFAULT ''
                        CHECK (end_reason IN ('', 'logout', 'forced', 'expired', 'replaced')),
    ended_by            TEXT    NOT NULL DEFAULT '',
    -- Raised on every write to a value above any handed out before,
    -- store-wide (see counters). Unique: a poller pages on it.
    version             INTEGER NOT NULL
) STRICT;

-- The operator's views of active sessions. Partial indexes hold only rows
-- that are not ended, so ended rows kept for the retention period cost
-- nothing to list past; expiry is checked against the key range.
CREATE INDEX sessions_active_expires  ON sessions (expires_at, id)    WHERE ended_at IS NULL;
CREATE INDEX sessions_active_activity ON sessions (last_activity, id) WHERE ended_at IS NULL;
CREATE INDEX sessions_active_login    ON sessions (login_time, id)    WHERE ended_at IS NULL;
CREATE INDEX sessions_active_username ON sessions (username, id)      WHERE ended_at IS NULL;
CREATE INDEX sessions_active_user_id  ON sessions (user_id)           WHERE ended_at IS NULL;
-- Changes since N; also makes max(version) a single index probe.
CREATE UNIQUE INDEX sessions_version  ON sessions (version);
-- Recent logins in any state (Stats), and Purge of ended rows (active rows
-- are found for Purge through sessions_active_expires).
CREATE INDEX sessions_login_time      ON sessions (login_time);
CREATE INDEX sessions_ended           ON sessions (ended_at)          WHERE ended_at IS NOT NULL;

-- Named counters. 'version' is a floor under the next session version:
-- the next version is max(max(sessions.version), floor) + 1, and Purge
-- raises the floor to the highest version before it deletes rows, so a
-- version is never handed out twice even when the newest rows are purged.
CREATE TABLE counters (
    name  TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT;
INSERT INTO counters (name, value) VALUES ('version', 0);

-- Append-only: the triggers below refuse UPDATE and DELETE, so no code path
-- of the application (or a stray statement) can alter the record.
CREATE TABLE audit (
    id         INTEGER PRIMARY KEY,
    time       INTEGER NOT NULL,
    actor      TEXT    NOT NULL DEFAULT '',
    action     TEXT    NOT NULL,
    username   TEXT    NOT NULL DEFAULT '',
    session_id TEXT    NOT NULL DEFAULT '',
    ip         TEXT    NOT NULL DEFAULT '',
    detail     TEXT    NOT NULL DEFAULT ''
) STRICT;

-- Failed-login throttling (RecentFailures) by user and by IP.
CREATE INDEX audit_action_username ON audit (action, username, time);
CREATE INDEX audit_action_ip       ON audit (action, ip, time);
-- The operator's audit views, newest first: one user's history, one
-- session's, one action's.
CREATE INDEX audit_username        ON audit (username, id);
CREATE INDEX audit_session         ON audit (session_id, id) WHERE session_id <> '';
CREATE INDEX audit_action          ON audit (action, id);

CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit is append-only');
END;

CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'audit is append-only');
END;

-- INSERT OR REPLACE (and REPLACE INTO) deletes a conflicting row without
-- firing DELETE triggers: refuse an insert that names an existing id.
CREATE TRIGGER audit_no_replace BEFORE INSERT ON audit
WHEN EXISTS (SELECT 1 FROM audit WHERE id = NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'audit is append-only');
END;
