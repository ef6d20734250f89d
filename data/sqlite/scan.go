package sqlite

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"sessionmon/data"
)

// CorruptRowError is data.RowError: a session row that cannot be decoded,
// named so an operator can repair it; the store never panics on one.
type CorruptRowError = data.RowError

type scanner interface {
	Scan(dest ...any) error
}

// scanSession reads one row of sessionCols. Every column is scanned into an
// interface value and converted here, so a value of an unexpected type is an
// error naming the session, never a panic and never an anonymous
// "converting driver.Value" message.
func scanSession(sc scanner) (data.Session, error) {
	raw, err := scanRaw(sc)
	if err != nil {
		return data.Session{}, err
	}
	return decodeSession(raw)
}

func scanRaw(sc scanner) ([]any, error) {
	raw := make([]any, nSessionCols)
	var ptrs [nSessionCols]any
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	if err := sc.Scan(ptrs[:]...); err != nil {
		return nil, err
	}
	return raw, nil
}

// rawCursor is the ListActive position of a raw row, read from only its id
// and sort column, so paging can step past a row that is corrupt elsewhere.
func rawCursor(k data.SortKey, raw []any) (*data.Cursor, bool) {
	var d decoder
	c := &data.Cursor{ID: d.str(raw[0], "id")}
	switch k {
	case data.SortLastActivity:
		c.Time = d.time(raw[11], "last_activity")
	case data.SortLoginTime:
		c.Time = d.time(raw[10], "login_time")
	case data.SortUser:
		c.User = d.str(raw[2], "username")
	default:
		c.Time = d.time(raw[12], "expires_at")
	}
	return c, d.err == nil && c.ID != ""
}

func decodeSession(raw []any) (data.Session, error) {
	var d decoder
	s := data.Session{
		ID:                d.str(raw[0], "id"),
		UserID:            d.int(raw[1], "user_id"),
		Username:          d.str(raw[2], "username"),
		Email:             d.str(raw[3], "email"),
		FullName:          d.str(raw[4], "full_name"),
		Role:              d.str(raw[5], "role"),
		Status:            d.str(raw[6], "status"),
		IP:                d.str(raw[8], "ip"),
		UserAgent:         d.str(raw[9], "user_agent"),
		LoginTime:         d.time(raw[10], "login_time"),
		LastActivity:      d.time(raw[11], "last_activity"),
		ExpiresAt:         d.time(raw[12], "expires_at"),
		AbsoluteExpiresAt: d.time(raw[13], "absolute_expires_at"),
		EndedAt:           d.time(raw[14], "ended_at"),
		EndReason:         d.str(raw[15], "end_reason"),
		EndedBy:           d.str(raw[16], "ended_by"),
		Version:           d.int(raw[17], "version"),
	}
	s.Data = d.json(raw[7], "data")
	if d.err != nil {
		id := s.ID
		if id == "" {
			id = fmt.Sprint(raw[0])
		}
		return data.Session{}, &CorruptRowError{SessionID: id, Err: d.err}
	}
	return s, nil
}

// decoder converts raw column values, keeping the first error.
type decoder struct{ err error }

func (d *decoder) fail(col string, v any, why string) {
	if d.err == nil {
		d.err = fmt.Errorf("column %s: %s (%T %.40v)", col, why, v, v)
	}
}

func (d *decoder) str(v any, col string) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case nil:
		return ""
	}
	d.fail(col, v, "want text")
	return ""
}

func (d *decoder) int(v any, col string) int64 {
	if x, ok := v.(int64); ok {
		return x
	}
	d.fail(col, v, "want an integer")
	return 0
}

// time decodes unix microseconds; NULL is the zero time.
func (d *decoder) time(v any, col string) time.Time {
	switch x := v.(type) {
	case nil:
		return time.Time{}
	case int64:
		return time.UnixMicro(x).UTC()
	}
	d.fail(col, v, "want unix microseconds")
	return time.Time{}
}

// json decodes a JSON object; "{}" (and NULL) is nil.
func (d *decoder) json(v any, col string) map[string]any {
	s := d.str(v, col)
	if s == "" || s == "{}" {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		d.fail(col, v, "want a JSON object: "+err.Error())
		return nil
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

// encodeData is the stored form of Session.Data.
func encodeData(m map[string]any) (string, error) {
	if len(m) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encode data: %w", err)
	}
	return string(b), nil
}

// rowsErr collects the corrupt rows of a multi-row read: the good rows are
// still returned, and the error names every bad one.
type rowsErr struct{ errs []error }

func (r *rowsErr) add(err error) { r.errs = append(r.errs, err) }

func (r *rowsErr) err() error { return errors.Join(r.errs...) }
