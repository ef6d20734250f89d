package server

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"sessionmon/sessionlogic"
)

// TestAppendFieldsIsJSONMarshal: GET /api/me's direct encoder answers
// byte for byte what encoding/json (writeJSON) answers, including the cases
// where it hands over to encoding/json (escaping, years outside 0–9999,
// data that cannot be marshalled).
func TestAppendFieldsIsJSONMarshal(t *testing.T) {
	at := time.Date(2026, 12, 1, 13, 4, 5, 123456789, time.UTC)
	base := sessionlogic.Fields{
		Session: "0123abcd", User: "alice", UserID: 42, Email: "alice@example.com", Name: "Alice Liddell",
		Role: "admin", Status: "active", LoginTime: at, LastActivity: at.Add(time.Minute),
		ExpiresAt: at.Add(14 * 24 * time.Hour), IP: "127.0.0.1", UserAgent: "Mozilla/5.0 (X11; Linux x86_64)",
	}
	with := func(f func(*sessionlogic.Fields)) sessionlogic.Fields {
		c := base
		f(&c)
		return c
	}
	cases := map[string]sessionlogic.Fields{
		"plain":         base,
		"zero":          {},
		"full id":       with(func(f *sessionlogic.Fields) { f.ID = "0123abcd" + "ef" }),
		"no user agent": with(func(f *sessionlogic.Fields) { f.UserAgent = "" }),
		"html":          with(func(f *sessionlogic.Fields) { f.Name = `<b>"Bob" & 'co'</b>` }),
		"backslash":     with(func(f *sessionlogic.Fields) { f.User = `a\b` }),
		"control":       with(func(f *sessionlogic.Fields) { f.UserAgent = "a\tb\x00c\x7f" }),
		"unicode":       with(func(f *sessionlogic.Fields) { f.Name = "Zoë Ñandú 山田 \u2028\u2029" }),
		"invalid utf-8": with(func(f *sessionlogic.Fields) { f.Email = "a\xffb\xc3" }),
		"negative id":   with(func(f *sessionlogic.Fields) { f.UserID = -9223372036854775808 }),
		"not utc":       with(func(f *sessionlogic.Fields) { f.LoginTime = at.In(time.FixedZone("x", -(3*3600 + 1800))) }),
		"whole seconds": with(func(f *sessionlogic.Fields) { f.LastActivity = at.Truncate(time.Second) }),
		"micros":        with(func(f *sessionlogic.Fields) { f.ExpiresAt = at.Truncate(time.Microsecond) }),
		"year 10000":    with(func(f *sessionlogic.Fields) { f.ExpiresAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }),
		"year -1":       with(func(f *sessionlogic.Fields) { f.LoginTime = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) }),
		"data": with(func(f *sessionlogic.Fields) {
			f.Data = map[string]any{"z": 1.5, "a": []any{"<x>", nil, true}, "m": map[string]any{"k": "v"}}
		}),
		"empty data":         with(func(f *sessionlogic.Fields) { f.Data = map[string]any{} }),
		"data not marshaled": with(func(f *sessionlogic.Fields) { f.Data = map[string]any{"c": make(chan int)} }),
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			want := httptest.NewRecorder()
			writeJSON(want, http.StatusOK, f)
			got := httptest.NewRecorder()
			writeFields(got, http.StatusOK, f)
			if got.Code != want.Code || got.Body.String() != want.Body.String() {
				t.Fatalf("writeFields: %d %q\nwriteJSON:   %d %q", got.Code, got.Body, want.Code, want.Body)
			}
			if g, w := got.Header().Get("Content-Type"), want.Header().Get("Content-Type"); g != w {
				t.Fatalf("Content-Type %q, want %q", g, w)
			}
		})
	}
}
