package storetest_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"sessionmon/data"
	"sessionmon/data/sqlite"
	"sessionmon/data/storetest"
)

// sourceOnly hides everything of a store but its data.Source half, as a
// foreign source (a Django site) has nothing more: the suite must then
// check only what a Source promises.
type sourceOnly struct{ data.Source }

// noExtend is a source that cannot extend (a Django site without its
// SECRET_KEY): Refuse says so, and Extend refuses without touching a row.
type noExtend struct{ sourceOnly }

func (noExtend) Refuse(action string) error {
	if action == data.ActionExtend {
		return fmt.Errorf("extend needs the site's SECRET_KEY: %w", data.ErrUnsupported)
	}
	return nil
}

func (noExtend) Extend(context.Context, string, time.Duration, time.Time, data.AuditEntry) (data.Session, error) {
	return data.Session{}, fmt.Errorf("extend: %w", data.ErrUnsupported)
}

// seeder writes sessions the way sessionmon's login server would, through
// the store the source wraps.
type seeder struct {
	st *sqlite.Store
	n  int
}

func (s *seeder) Seed(t *testing.T, ss []data.Session) []string {
	t.Helper()
	out := make([]string, len(ss))
	for i, sess := range ss {
		u, err := s.st.UserByUsername(t.Context(), sess.Username)
		if err != nil {
			u, err = s.st.CreateUser(t.Context(), data.User{
				Username: sess.Username, Email: sess.Email, FullName: sess.FullName, Role: sess.Role,
				Status: sess.Status, CreatedAt: storetest.T0,
			}, data.AuditEntry{Time: storetest.T0, Action: data.ActionUserAdd})
			if err != nil {
				t.Fatal(err)
			}
		}
		s.n++
		sess.ID, sess.UserID = storetest.SessionID(fmt.Sprint("foreign-", s.n)), u.ID
		if _, err := s.st.CreateSession(t.Context(), sess, "", data.Guard{}, data.AuditEntry{Time: sess.LoginTime, Action: data.ActionLogin}); err != nil {
			t.Fatal(err)
		}
		out[i] = sess.ID
	}
	return out
}

func openSQLite(t *testing.T) *sqlite.Store {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestRunSourceOnASourceOnly runs the operator-side suite on a source that
// is not a Store, at a coarser time precision than the store keeps.
func TestRunSourceOnASourceOnly(t *testing.T) {
	storetest.RunSource(t, storetest.SourceHarness{
		Open: func(t *testing.T) (data.Source, storetest.Seeder) {
			st := openSQLite(t)
			return sourceOnly{st}, &seeder{st: st}
		},
		TimePrecision: time.Millisecond,
	})
}

// TestRunSourceRefusingExtend: the extend cases accept a source that
// refuses extending, provided it refuses with ErrUnsupported and changes
// nothing.
func TestRunSourceRefusingExtend(t *testing.T) {
	storetest.RunSource(t, storetest.SourceHarness{
		Open: func(t *testing.T) (data.Source, storetest.Seeder) {
			st := openSQLite(t)
			return noExtend{sourceOnly{st}}, &seeder{st: st}
		},
	})
}
