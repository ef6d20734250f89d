package sqlite

// All SQL the store runs. Values are always bound, never formatted in; the
// only text assembled at run time is ListActive's and Audit's WHERE/ORDER BY
// from the constants in read.go.

// sessionCols is the column list every session read selects, in the order
// decodeSession expects.
const sessionCols = `id, user_id, username, email, full_name, role, status, data, ip, user_agent,
	login_time, last_activity, expires_at, absolute_expires_at, ended_at, end_reason, ended_by, version`

const nSessionCols = 18

const userCols = `id, username, email, full_name, role, status, password_hash, created_at`

// highestVersionSQL is the highest version handed out: the newest row's, or
// the floor Purge left when it deleted the newest rows.
const highestVersionSQL = `max(ifnull((SELECT max(version) FROM sessions), 0),
	(SELECT value FROM counters WHERE name = 'version'))`

// nextVersionSQL is the version of the row being written. SQLite has one
// writer at a time, so no other statement can take the same value.
const nextVersionSQL = `(` + highestVersionSQL + ` + 1)`

// Writes (the writer pool).
const (
	// touchSQL is the hot path in one statement: ?1 now, ?2 requested
	// expiry, ?3 id. The row must be not ended and not expired at now; the
	// new expiry is capped at the absolute limit and never below the current
	// one (an operator's extension survives the holder's next request).
	// It leaves version alone (data.Store.Touch), so the version index is
	// not rewritten on every request.
	touchSQL = `UPDATE sessions SET
	last_activity = ?1,
	expires_at = max(expires_at, CASE WHEN absolute_expires_at IS NOT NULL AND absolute_expires_at < ?2
		THEN absolute_expires_at ELSE ?2 END)
WHERE id = ?3 AND ended_at IS NULL AND expires_at > ?1
RETURNING ` + sessionCols

	insertSessionSQL = `INSERT INTO sessions (
	id, user_id, username, email, full_name, role, status, data, ip, user_agent,
	login_time, last_activity, expires_at, absolute_expires_at, version)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ` + nextVersionSQL + `)
RETURNING ` + sessionCols

	// endOneSQL ends one session that is active at ?1: ?1 at, ?2 reason,
	// ?3 by (empty: the holder, so the row's username), ?4 id.
	endOneSQL = `UPDATE sessions SET
	ended_at = ?1, end_reason = ?2, ended_by = coalesce(nullif(?3, ''), username), version = ` + nextVersionSQL + `
WHERE id = ?4 AND ended_at IS NULL AND expires_at > ?1
RETURNING ` + sessionCols

	// replaceSQL is endOneSQL without RETURNING: the replaced row is not
	// handed back, so a corrupt one cannot block a new login.
	replaceSQL = `UPDATE sessions SET
	ended_at = ?1, end_reason = ?2, ended_by = ?3, version = ` + nextVersionSQL + `
WHERE id = ?4 AND ended_at IS NULL AND expires_at > ?1`

	// endUserSQL ends every session of user ?1 that is active at ?2 (?3
	// reason, ?4 by). Each row gets its own version, in id order, above
	// every version handed out before.
	endUserSQL = `WITH
	base(v) AS MATERIALIZED (SELECT ` + highestVersionSQL + `),
	t(id, n) AS MATERIALIZED (
		SELECT id, row_number() OVER (ORDER BY id) FROM sessions
		WHERE user_id = ?1 AND ended_at IS NULL AND expires_at > ?2)
UPDATE sessions SET
	ended_at = ?2, end_reason = ?3, ended_by = ?4,
	version = (SELECT v FROM base) + t.n
FROM t WHERE sessions.id = t.id`

	// extendSQL: ?1 the extension in microseconds, ?2 id, ?3 now.
	extendSQL = `UPDATE sessions SET
	expires_at = expires_at + ?1, version = ` + nextVersionSQL + `
WHERE id = ?2 AND ended_at IS NULL AND expires_at > ?3
	AND (absolute_expires_at IS NULL OR expires_at + ?1 <= absolute_expires_at)
RETURNING ` + sessionCols

	sessionStateSQL = `SELECT ended_at, expires_at FROM sessions WHERE id = ?`

	// sessionInTxSQL reads a row inside a write transaction (EndSessions
	// tells ended from missing with it).
	sessionInTxSQL = `SELECT ` + sessionCols + ` FROM sessions WHERE id = ?`

	// usernameOfSQL names user ?1 for an audit entry left without one.
	usernameOfSQL = `SELECT username FROM users WHERE id = ?`

	// raiseVersionFloorSQL keeps the highest version handed out even when
	// Purge deletes its row.
	raiseVersionFloorSQL = `UPDATE counters SET value = ` + highestVersionSQL + ` WHERE name = 'version'`

	// purgeSQL deletes rows dead before ?1. A row is dead from the moment
	// it ended or expired, whichever came first; every write of ended_at
	// requires expires_at > ended_at, so for an ended row that moment is
	// ended_at. Split this way, each half is served by an index.
	purgeSQL = `DELETE FROM sessions
WHERE (ended_at IS NOT NULL AND ended_at < ?1)
   OR (ended_at IS NULL AND expires_bucket <= ?1 / 60000000 AND expires_at < ?1)`

	insertAuditSQL = `INSERT INTO audit (time, actor, action, username, session_id, ip, detail)
	VALUES (?, ?, ?, ?, ?, ?, ?)`

	insertUserSQL = `INSERT INTO users (username, email, full_name, role, status, password_hash, created_at)
	VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING ` + userCols

	setRoleSQL     = `UPDATE users SET role = ? WHERE username = ? RETURNING ` + userCols
	setStatusSQL   = `UPDATE users SET status = ? WHERE username = ? RETURNING ` + userCols
	setPasswordSQL = `UPDATE users SET password_hash = ? WHERE username = ? RETURNING ` + userCols
	// rehashSQL: ?1 new hash, ?2 username, ?3 the hash it must still have.
	rehashSQL = `UPDATE users SET password_hash = ?1 WHERE username = ?2 AND password_hash = ?3`
	// guardSQL finds user ?1 only if still active with hash ?2 (data.Guard).
	guardSQL = `SELECT 1 FROM users WHERE id = ?1 AND status = 'active' AND password_hash = ?2`
)

var writerSQL = []string{
	touchSQL, insertSessionSQL, endOneSQL, replaceSQL, endUserSQL, extendSQL, sessionStateSQL,
	sessionInTxSQL, usernameOfSQL,
	raiseVersionFloorSQL, purgeSQL, insertAuditSQL, insertUserSQL, setRoleSQL, setStatusSQL, setPasswordSQL,
	rehashSQL, guardSQL,
}

// Reads (the reader pool).
const (
	getSessionSQL  = `SELECT ` + sessionCols + ` FROM sessions WHERE id = ?`
	userSQL        = `SELECT ` + userCols + ` FROM users WHERE username = ?`
	listUsersSQL   = `SELECT ` + userCols + ` FROM users ORDER BY username`
	statsActiveSQL = `SELECT role, count(*), sum(expires_at <= ?2) FROM sessions
	WHERE ended_at IS NULL AND expires_at > ?1 GROUP BY role`
	statsLoginsSQL = `SELECT count(*) FROM sessions WHERE login_time >= ? AND login_time <= ?`
	highestSQL     = `SELECT ` + highestVersionSQL
	changesSQL     = `SELECT ` + sessionCols + ` FROM sessions WHERE version > ? ORDER BY version LIMIT ?`
	pingSQL        = `SELECT count(*) FROM schema_migrations`
)

// failuresSQL answers RecentFailures in one query (one read snapshot):
// ?1 username, ?2 IP, ?3 since (inclusive), ?4, ?5 and ?6 the limits by
// username, by IP and by the two together. Counts, then the limit-th newest
// failure (the (count-limit+1)-th oldest), NULL below the limit. Each
// subquery is a range of audit_action_username, audit_action_ip or
// audit_action_username_ip (the ClearsAt ones walk it backwards and stop
// after the limit's worth of rows); an empty username or IP, or a limit
// <= 0, reads nothing.
const failuresSQL = `SELECT
	(SELECT count(*) FROM audit
	  WHERE ?1 <> '' AND action = 'login_failed' AND username = ?1 AND time >= ?3),
	(SELECT count(*) FROM audit
	  WHERE ?2 <> '' AND action = 'login_failed' AND ip = ?2 AND time >= ?3),
	(SELECT count(*) FROM audit
	  WHERE ?1 <> '' AND ?2 <> '' AND action = 'login_failed' AND username = ?1 AND ip = ?2 AND time >= ?3),
	(SELECT time FROM audit
	  WHERE ?1 <> '' AND ?4 > 0 AND action = 'login_failed' AND username = ?1 AND time >= ?3
	  ORDER BY time DESC LIMIT 1 OFFSET max(?4 - 1, 0)),
	(SELECT time FROM audit
	  WHERE ?2 <> '' AND ?5 > 0 AND action = 'login_failed' AND ip = ?2 AND time >= ?3
	  ORDER BY time DESC LIMIT 1 OFFSET max(?5 - 1, 0)),
	(SELECT time FROM audit
	  WHERE ?1 <> '' AND ?2 <> '' AND ?6 > 0 AND action = 'login_failed' AND username = ?1 AND ip = ?2 AND time >= ?3
	  ORDER BY time DESC LIMIT 1 OFFSET max(?6 - 1, 0))`

var readerSQL = []string{
	getSessionSQL, userSQL, listUsersSQL, statsActiveSQL, statsLoginsSQL, highestSQL, changesSQL,
	failuresSQL, pingSQL,
}
