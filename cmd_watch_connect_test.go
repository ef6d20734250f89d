package main

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"sessionmon/data/postgres"
	"sessionmon/internal/pgtest"
)

// A PostgreSQL that does not answer is worth retrying from the dashboard;
// one that answers and refuses is not, and watch ends with one line that
// says why (issue 9).
func TestWatchTellsAnOutageFromARefusal(t *testing.T) {
	base, err := url.Parse(pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	dsn := func(user, host, db string) string {
		u := *base
		u.User, u.Host, u.Path, u.RawQuery = url.User(user), host, "/"+db, "connect_timeout=2"
		return u.String()
	}
	ctx := context.Background()
	open := func(d string) error {
		st, err := postgres.Open(ctx, d)
		if err != nil {
			return err
		}
		defer st.Close()
		return st.CheckSchema(ctx)
	}
	if err := open(dsn("postgres", "127.0.0.1:1", "test")); err == nil || !retryable(oneLineError{err}) {
		t.Fatalf("nothing listening: %v, retryable %v", err, retryable(err))
	}
	for _, d := range []string{dsn("no-such-role", base.Host, "test"), dsn(base.User.Username(), base.Host, "no_such_db")} {
		if err := open(d); err == nil || retryable(err) {
			t.Fatalf("%s: %v, retryable", d, err)
		}
		c := newCLI(t)
		_, _, err := c.run("", "watch", "--db", d)
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "SQLSTATE") {
			t.Fatalf("watch on %s: %q", d, err)
		}
	}
}
