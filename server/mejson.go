package server

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"

	"sessionmon/sessionlogic"
)

// GET /api/me answers every authenticated AJAX request, so its encoding is
// on the hot path (issue 11: on 2 cores the server's CPU per request bounds
// the rate). encoding/json spends a reflection walk, a MarshalJSON call and
// an allocation per time.Time, and a fresh buffer per answer. appendFields
// writes the same bytes directly into a pooled buffer; whatever it cannot
// write byte for byte as encoding/json would (an escaped string, a year
// outside 0–9999) makes it give up, and the answer goes through
// encoding/json as before. TestAppendFieldsIsJSONMarshal holds the two
// equal.

// meBufs are the answer buffers; one answer at a time per buffer.
var meBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledBuf keeps an unusually large answer's buffer out of the pool.
const maxPooledBuf = 16 << 10

// writeFields answers status with f as JSON, as writeJSON(w, status, f).
func writeFields(w http.ResponseWriter, status int, f sessionlogic.Fields) {
	bp := meBufs.Get().(*[]byte)
	b, ok := appendFields((*bp)[:0], f)
	if !ok {
		meBufs.Put(bp)
		writeJSON(w, status, f)
		return
	}
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
	if cap(b) <= maxPooledBuf {
		*bp = b[:0]
		meBufs.Put(bp)
	}
}

// jsonContentType is the Content-Type of every JSON answer. Assigned, not
// Set: Header.Set allocates a new one-element slice on every call. Nothing
// writes into a header's value slice (Add appends, which copies a full
// slice), so one shared slice is safe.
var jsonContentType = []string{"application/json; charset=utf-8"}

// appendFields appends f as encoding/json marshals it (field order, names,
// omitempty), or reports false when it cannot be sure to.
func appendFields(b []byte, f sessionlogic.Fields) ([]byte, bool) {
	ok := true
	str := func(b []byte, s string) []byte {
		if !plainJSON(s) {
			ok = false
			return b
		}
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	tm := func(b []byte, t time.Time) []byte {
		// time.Time.MarshalJSON is RFC 3339 with nanoseconds, and an error
		// for a year outside [0, 9999].
		if y := t.Year(); y < 0 || y > 9999 {
			ok = false
			return b
		}
		b = append(b, '"')
		b = t.AppendFormat(b, time.RFC3339Nano)
		return append(b, '"')
	}
	b = append(b, '{')
	if f.ID != "" {
		b = append(b, `"id":`...)
		b = str(b, f.ID)
		b = append(b, ',')
	}
	b = append(b, `"session":`...)
	b = str(b, f.Session)
	b = append(b, `,"user":`...)
	b = str(b, f.User)
	b = append(b, `,"user_id":`...)
	b = strconv.AppendInt(b, f.UserID, 10)
	b = append(b, `,"user_email":`...)
	b = str(b, f.Email)
	b = append(b, `,"user_name":`...)
	b = str(b, f.Name)
	b = append(b, `,"user_role":`...)
	b = str(b, f.Role)
	b = append(b, `,"user_status":`...)
	b = str(b, f.Status)
	b = append(b, `,"login_time":`...)
	b = tm(b, f.LoginTime)
	b = append(b, `,"last_activity":`...)
	b = tm(b, f.LastActivity)
	b = append(b, `,"expires_at":`...)
	b = tm(b, f.ExpiresAt)
	b = append(b, `,"ip":`...)
	b = str(b, f.IP)
	if f.UserAgent != "" {
		b = append(b, `,"user_agent":`...)
		b = str(b, f.UserAgent)
	}
	if len(f.Data) > 0 {
		// Free-form values: encoding/json itself (sorted keys, escaping).
		d, err := json.Marshal(f.Data)
		if err != nil {
			return b, false
		}
		b = append(b, `,"data":`...)
		b = append(b, d...)
	}
	return append(b, '}'), ok
}

// plainJSON reports whether encoding/json writes s unchanged between
// quotes: printable ASCII without '"', '\\' and the HTML-escaped '<', '>',
// '&'. Anything else (control bytes, non-ASCII, which may be invalid UTF-8
// or U+2028) is left to encoding/json.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}
