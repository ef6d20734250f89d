// Package storetest is the conformance suite of sessions sources and stores,
// run per capability:
//
//   - RunSource checks the operator's half, data.Source (what the dashboard
//     and the CLI's sessions commands use), against any source: sessionmon's
//     own stores, or a foreign session table such as a Django site's, with
//     the foreign app writing the rows through a Seeder.
//   - Run checks a full data.Store: everything RunSource does (seeding
//     through CreateSession) plus what only the login server needs (users,
//     create, guard, touch, versions, purge, throttle, races).
//
// A backend's own test calls Run with a function that opens a fresh, empty,
// migrated store:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) data.Store {
//			st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "s.db"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { st.Close() })
//			return st
//		})
//	}
//
// open is called once per subtest, from the subtest's goroutine, and owns the
// store's lifetime (register Close with t.Cleanup); the suite never calls
// Close. Subtests run in parallel, so open must hand out independent stores.
//
// The suite never relies on the wall clock: every time it passes is derived
// from a fixed instant, truncated to the microsecond, in UTC, as data.go
// requires of callers. Where data.go leaves a boundary open (is a login at
// exactly now-window "recent"?) the suite stays away from it; where it pins one
// down (expired means ExpiresAt <= now) the suite tests the boundary itself.
//
// Choices the suite makes explicit, beyond the letter of data.go:
//   - ListActive orders ties on the sort key by ID in the same direction as
//     the key (ascending, or descending when Desc), and an invalid Sort is an
//     error rather than a silent default.
//   - SetUserRole, SetUserStatus, SetUserPassword and RehashPassword on an
//     unknown username return ErrNotFound and write no audit entry.
//   - A call that fails (ErrConflict, ErrEnded, ErrBeyondLimit, ErrNotFound)
//     changes nothing and writes no audit entry.
//   - RecentFailures with an empty Username (or IP) counts 0 for it and
//     for the pair (ByUserIP), and gives them no ClearsAt, whatever the limit.
//   - Every time a store returns is in UTC (Location() == time.UTC) and zero
//     times (EndedAt, AbsoluteExpiresAt) come back as the zero time.Time.
package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"sessionmon/data"
)

// T0 is the instant every test time is derived from. It has microseconds
// (so a store that drops them fails) but no nanoseconds (callers truncate).
var T0 = time.Date(2031, time.March, 4, 5, 6, 7, 891011000, time.UTC)

// CookieAge is the default sliding expiry the suite uses (Django's 14 days).
const CookieAge = 14 * 24 * time.Hour

type testCase struct {
	name string
	run  func(t *testing.T, st data.Store)
}

type group struct {
	name  string
	cases []testCase
}

// storeGroups are the cases of what only a full Store does: users, logins
// (create, guard, touch), versions across every kind of write, purge, the
// server's own audit entries and throttle, and races with the hot path.
func storeGroups() []group {
	return []group{
		{"Users", userCases},
		{"Logins", sessionCases},
		{"Guard", guardCases},
		{"Versions", changesCases},
		{"Purge", purgeCases},
		{"Audit", auditCases},
		{"Groups", groupCases},
		{"Concurrency", concurrencyCases},
	}
}

// Run runs the whole suite for a full Store: the operator-side cases of
// RunSource (seeding through CreateSession) and the store cases. open must
// return a fresh, empty, migrated store on every call; see the package
// documentation.
func Run(t *testing.T, open func(t *testing.T) data.Store) {
	t.Helper()
	runGroups(t, SourceHarness{Open: func(t *testing.T) (data.Source, Seeder) {
		st := open(t)
		if st == nil {
			t.Fatal("open returned a nil store")
		}
		return st, &storeSeeder{st: st}
	}}, sourceGroups())
	for _, g := range storeGroups() {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					st := open(t)
					if st == nil {
						t.Fatal("open returned a nil store")
					}
					c.run(t, st)
				})
			}
		})
	}
}

// ---- helpers ---------------------------------------------------------------

// SessionID is the hex SHA-256 of name, shaped like a real session id.
func SessionID(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:])
}

func at(d time.Duration) time.Time { return T0.Add(d) }

func auditEntry(action, actor, username, sessionID string) data.AuditEntry {
	return data.AuditEntry{
		Time:      T0,
		Actor:     actor,
		Action:    action,
		Username:  username,
		SessionID: sessionID,
		Detail:    "storetest " + action,
	}
}

func mustUser(t *testing.T, st data.Store, username, role string) data.User {
	t.Helper()
	u, err := st.CreateUser(t.Context(), data.User{
		Username:     username,
		Email:        username + "@example.com",
		FullName:     "Full " + strings.ToUpper(username[:1]) + username[1:],
		Role:         role,
		Status:       data.StatusActive,
		PasswordHash: "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA",
		CreatedAt:    T0,
	}, auditEntry(data.ActionUserAdd, "root", username, ""))
	if err != nil {
		t.Fatalf("CreateUser(%q): %v", username, err)
	}
	return u
}

// newSession builds (does not store) a session of u, named name, that logged
// in at T0 and expires CookieAge later.
func newSession(u data.User, name string) data.Session {
	return data.Session{
		ID:           SessionID(name),
		UserID:       u.ID,
		Username:     u.Username,
		Email:        u.Email,
		FullName:     u.FullName,
		Role:         u.Role,
		Status:       u.Status,
		IP:           "192.0.2.10",
		UserAgent:    "Mozilla/5.0 (storetest)",
		LoginTime:    T0,
		LastActivity: T0,
		ExpiresAt:    T0.Add(CookieAge),
	}
}

func mustCreate(t *testing.T, st data.Store, s data.Session) data.Session {
	t.Helper()
	got, err := st.CreateSession(t.Context(), s, "", data.Guard{}, auditEntry(data.ActionLogin, s.Username, s.Username, s.ID))
	if err != nil {
		t.Fatalf("CreateSession(%s): %v", short(s.ID), err)
	}
	return got
}

func mustSession(t *testing.T, st data.Source, id string) data.Session {
	t.Helper()
	s, err := st.Session(t.Context(), id)
	if err != nil {
		t.Fatalf("Session(%s): %v", short(id), err)
	}
	return s
}

func mustEnd(t *testing.T, st data.Store, id string, end data.End) data.Session {
	t.Helper()
	s, err := st.EndSession(t.Context(), id, end, auditEntry(data.ActionLogout, end.By, "", id))
	if err != nil {
		t.Fatalf("EndSession(%s): %v", short(id), err)
	}
	return s
}

func mustAudit(t *testing.T, st data.Source, q data.AuditQuery) []data.AuditEntry {
	t.Helper()
	es, err := st.Audit(t.Context(), q)
	if err != nil {
		t.Fatalf("Audit(%+v): %v", q, err)
	}
	return es
}

// wantErr fails unless err matches target (nil target: err must be nil).
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	switch {
	case target == nil && err != nil:
		t.Fatalf("%s: unexpected error %v", what, err)
	case target != nil && !errors.Is(err, target):
		t.Fatalf("%s: error = %v, want %v", what, err, target)
	}
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// normData returns d as a store hands it back: JSON-decoded, nil when empty.
func normData(d map[string]any) map[string]any {
	if len(d) == 0 {
		return nil
	}
	b, err := json.Marshal(d)
	if err != nil {
		panic(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

func timeDiff(name string, want, got time.Time) string {
	switch {
	case want.IsZero() && got.IsZero():
		return ""
	case !want.Equal(got):
		return fmt.Sprintf("%s = %v, want %v; ", name, got, want)
	case got.Location() != time.UTC:
		return fmt.Sprintf("%s = %v is not in UTC; ", name, got)
	}
	return ""
}

// sessionDiff describes how got differs from want, ignoring Version.
func sessionDiff(want, got data.Session) string {
	var b strings.Builder
	str := func(name, w, g string) {
		if w != g {
			fmt.Fprintf(&b, "%s = %q, want %q; ", name, g, w)
		}
	}
	str("ID", want.ID, got.ID)
	if want.UserID != got.UserID {
		fmt.Fprintf(&b, "UserID = %d, want %d; ", got.UserID, want.UserID)
	}
	str("Username", want.Username, got.Username)
	str("Email", want.Email, got.Email)
	str("FullName", want.FullName, got.FullName)
	str("Role", want.Role, got.Role)
	str("Status", want.Status, got.Status)
	if w, g := normData(want.Data), normData(got.Data); !reflect.DeepEqual(w, g) {
		fmt.Fprintf(&b, "Data = %#v, want %#v; ", g, w)
	}
	str("IP", want.IP, got.IP)
	str("UserAgent", want.UserAgent, got.UserAgent)
	b.WriteString(timeDiff("LoginTime", want.LoginTime, got.LoginTime))
	b.WriteString(timeDiff("LastActivity", want.LastActivity, got.LastActivity))
	b.WriteString(timeDiff("ExpiresAt", want.ExpiresAt, got.ExpiresAt))
	b.WriteString(timeDiff("AbsoluteExpiresAt", want.AbsoluteExpiresAt, got.AbsoluteExpiresAt))
	b.WriteString(timeDiff("EndedAt", want.EndedAt, got.EndedAt))
	str("EndReason", want.EndReason, got.EndReason)
	str("EndedBy", want.EndedBy, got.EndedBy)
	return b.String()
}

func wantSession(t *testing.T, what string, want, got data.Session) {
	t.Helper()
	if d := sessionDiff(want, got); d != "" {
		t.Fatalf("%s: %s", what, d)
	}
}

func userDiff(want, got data.User) string {
	var b strings.Builder
	if want.ID != 0 && want.ID != got.ID {
		fmt.Fprintf(&b, "ID = %d, want %d; ", got.ID, want.ID)
	}
	for _, f := range [][3]string{
		{"Username", got.Username, want.Username},
		{"Email", got.Email, want.Email},
		{"FullName", got.FullName, want.FullName},
		{"Role", got.Role, want.Role},
		{"Status", got.Status, want.Status},
		{"PasswordHash", got.PasswordHash, want.PasswordHash},
	} {
		if f[1] != f[2] {
			fmt.Fprintf(&b, "%s = %q, want %q; ", f[0], f[1], f[2])
		}
	}
	b.WriteString(timeDiff("CreatedAt", want.CreatedAt, got.CreatedAt))
	return b.String()
}

func ids(ss []data.Session) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.ID
	}
	return out
}

func shortIDs(ids []string) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = short(id)
	}
	return "[" + strings.Join(s, " ") + "]"
}

func actions(es []data.AuditEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Action
	}
	return out
}

// ctx is a shorthand used by the cases.
func ctx(t *testing.T) context.Context { return t.Context() }
