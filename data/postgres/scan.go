package postgres

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"sessionmon/data"
)

// sessionCols is the column list scanSession reads, in its order.
const sessionCols = `id, user_id, username, email, full_name, role, status, data, ip, user_agent,
	login_time, last_activity, expires_at, absolute_expires_at, ended_at, end_reason, ended_by, version`

// scanSession reads one row of sessionCols. Every column is scanned into a
// type that accepts whatever the database holds, so a corrupt row (data that
// is not a JSON object, an infinite timestamp) becomes an error naming the
// session rather than a failed scan or a panic.
func scanSession(row pgx.Row) (data.Session, error) {
	var (
		s                                 data.Session
		raw                               []byte
		login, last, exp, abs, ended      pgtype.Timestamptz
		email, fullName, role, status     pgtype.Text
		ip, ua, endReason, endedBy, uname pgtype.Text
	)
	if err := row.Scan(&s.ID, &s.UserID, &uname, &email, &fullName, &role, &status, &raw, &ip, &ua,
		&login, &last, &exp, &abs, &ended, &endReason, &endedBy, &s.Version); err != nil {
		return data.Session{}, err
	}
	s.Username, s.Email, s.FullName, s.Role, s.Status = uname.String, email.String, fullName.String, role.String, status.String
	s.IP, s.UserAgent, s.EndReason, s.EndedBy = ip.String, ua.String, endReason.String, endedBy.String

	var err error
	if s.Data, err = decodeData(raw); err != nil {
		return data.Session{}, corrupt(s.ID, "data", err)
	}
	for _, f := range []struct {
		name     string
		v        pgtype.Timestamptz
		dst      *time.Time
		nullable bool
	}{
		{"login_time", login, &s.LoginTime, false},
		{"last_activity", last, &s.LastActivity, false},
		{"expires_at", exp, &s.ExpiresAt, false},
		{"absolute_expires_at", abs, &s.AbsoluteExpiresAt, true},
		{"ended_at", ended, &s.EndedAt, true},
	} {
		switch {
		case !f.v.Valid && f.nullable:
			*f.dst = time.Time{}
		case !f.v.Valid:
			return data.Session{}, corrupt(s.ID, f.name, fmt.Errorf("is NULL"))
		case f.v.InfinityModifier != pgtype.Finite:
			return data.Session{}, corrupt(s.ID, f.name, fmt.Errorf("is infinite"))
		default:
			*f.dst = f.v.Time.UTC()
		}
	}
	return s, nil
}

func corrupt(id, column string, err error) error {
	return &data.RowError{SessionID: id, Err: fmt.Errorf("%s %w", column, err)}
}

// decodeData turns the data column into a map; "{}" and NULL give nil.
func decodeData(raw []byte) (map[string]any, error) {
	if raw == nil {
		return nil, nil
	}
	if len(raw) == 0 || raw[0] != '{' { // jsonb output is normalised: an object starts with '{'
		return nil, fmt.Errorf("is not a JSON object: %.40q", raw)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("is not a JSON object: %w", err)
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

// encodeData turns Session.Data into the data column; nil is "{}".
func encodeData(m map[string]any) ([]byte, error) {
	if len(m) == 0 {
		return []byte("{}"), nil
	}
	return json.Marshal(m)
}

// scanSessions reads every row of sessionCols and closes rows.
func scanSessions(rows pgx.Rows) ([]data.Session, error) {
	defer rows.Close()
	var (
		out     []data.Session
		badRows []error
	)
	for rows.Next() {
		s, err := scanSession(rows)
		var re *data.RowError
		switch {
		case errors.As(err, &re):
			badRows = append(badRows, err) // leave it out, keep the others
			continue
		case err != nil:
			return nil, err
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, errors.Join(badRows...)
}
