package storetest_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"sessionmon/data"
	"sessionmon/data/sqlite"
	"sessionmon/data/storetest"
	"sessionmon/internal/testkit"
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

// deleting is a source that deletes a session when it ends it, as Django's
// flush does, and keeps no change counter (poll-only): the suite must take
// an ended id for a missing one and skip the ChangesSince cases.
type deleting struct {
	sourceOnly
	db *sql.DB // the same file, to delete rows as the foreign app would
}

func (d deleting) drop(ctx context.Context, where string, arg any) error {
	_, err := d.db.ExecContext(ctx, `DELETE FROM sessions WHERE ended_at IS NOT NULL AND `+where, arg)
	return err
}

func (d deleting) EndSession(ctx context.Context, id string, end data.End, audit data.AuditEntry) (data.Session, error) {
	s, err := d.Source.EndSession(ctx, id, end, audit)
	if err != nil {
		return s, err
	}
	return s, d.drop(ctx, "id = ?", id)
}

func (d deleting) EndSessions(ctx context.Context, ids []string, end data.End, audit data.AuditEntry) (data.EndResult, error) {
	res, err := d.Source.EndSessions(ctx, ids, end, audit)
	if err != nil {
		return res, err
	}
	// What had ended before was deleted then: the source no longer has it.
	var already []data.Session
	for _, s := range res.Already {
		if s.EndedAt.IsZero() {
			already = append(already, s)
		} else {
			res.Missing = append(res.Missing, s.ID)
		}
	}
	res.Already = already
	for _, s := range res.Ended {
		if err := d.drop(ctx, "id = ?", s.ID); err != nil {
			return res, err
		}
	}
	return res, nil
}

func (d deleting) EndUserSessions(ctx context.Context, userID int64, end data.End, audit data.AuditEntry) (int, error) {
	n, err := d.Source.EndUserSessions(ctx, userID, end, audit)
	if err != nil {
		return n, err
	}
	return n, d.drop(ctx, "user_id = ?", userID)
}

func (deleting) ChangesSince(context.Context, int64, int) (data.Changes, error) {
	return data.Changes{}, nil
}

// TestRunSourceOnADeletingSource: a source that deletes what it ends and
// keeps no versions (Django's shape) passes the suite as such.
func TestRunSourceOnADeletingSource(t *testing.T) {
	storetest.RunSource(t, storetest.SourceHarness{
		Open: func(t *testing.T) (data.Source, storetest.Seeder) {
			path := filepath.Join(t.TempDir(), "s.db")
			st, err := sqlite.Open(t.Context(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return deleting{sourceOnly{st}, db}, &seeder{st: st}
		},
	})
}

// TestRunSourceOnASourceOnly runs the operator-side suite on a source that
// is not a Store, at a coarser time precision than the store keeps.
func TestRunSourceOnASourceOnly(t *testing.T) {
	storetest.RunSource(t, storetest.SourceHarness{
		Open: func(t *testing.T) (data.Source, storetest.Seeder) {
			st := testkit.OpenSQLite(t)
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
			st := testkit.OpenSQLite(t)
			return noExtend{sourceOnly{st}}, &seeder{st: st}
		},
	})
}
