package django

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"sessionmon/data"
)

// TestStreamActive: PostgreSQL's one-statement scan hands every active row
// once, in batches of streamBatch; and a scan cut short by its context is an
// error, never a complete pass (a full sync drops the rows a complete pass
// did not see).
func TestStreamActive(t *testing.T) {
	site := newSite(t, "postgres")
	now := time.Now().UTC().Truncate(time.Microsecond)
	enc, err := site.keys.Encode(PyDumps(siteMembers("ann", 1, "user", now, now)...), EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 2*streamBatch + 7
	site.exec(`INSERT INTO django_session SELECT md5(i::text), $1, $2::timestamptz + i * interval '1 second' FROM generate_series(1, $3) i`, enc, now, n)
	site.exec(`INSERT INTO django_session VALUES ('expired00000000000000000000000000', $1, $2)`, enc, now.Add(-time.Hour))
	src := site.open(Options{Keys: site.keys})

	seen := map[string]int{}
	var sizes []int
	if err := src.streamActive(ctx, now, func(rs []row) error {
		sizes = append(sizes, len(rs))
		for _, r := range rs {
			seen[r.key]++
			if r.data != enc || !r.expire.After(now) {
				t.Fatalf("row %s: %q expiring %v", r.key, r.data, r.expire)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != n || len(sizes) != 3 || sizes[0] != streamBatch {
		t.Fatalf("saw %d rows in batches %v, want %d in batches of %d", len(seen), sizes, n, streamBatch)
	}
	for k, c := range seen {
		if c != 1 {
			t.Fatalf("row %s handed %d times", k, c)
		}
	}

	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	err = src.streamActive(cctx, now, func(rs []row) error {
		// By now the reader has read every row and waits to hand over
		// the last batch: the source closes (a background full sync's
		// context ends).
		time.Sleep(200 * time.Millisecond)
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled scan returned %v, want context.Canceled", err)
	}

	stop := errors.New("stop")
	if err := src.streamActive(ctx, now, func([]row) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("fn's error: %v", err)
	}
}

// TestPlainSessionsJoinAuthUser: plain Django sessions (only
// _auth_user_id) of more users than one IN list holds are all joined to
// their auth_user rows, on both databases.
func TestPlainSessionsJoinAuthUser(t *testing.T) {
	eachDialect(t, func(t *testing.T, site *testSite) {
		const n = batch + 37
		tx, err := site.db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		for i := 1; i <= n; i++ {
			q := fmt.Sprintf(`INSERT INTO auth_user (id, password, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined)
				VALUES (%s, '!', false, %s, '', '', '', %s, true, %s)`, site.ph(1), site.ph(2), site.ph(3), site.ph(4))
			if _, err := tx.Exec(q, i, fmt.Sprintf("u%04d", i), i%2 == 0, site.d.timeArg(now)); err != nil {
				t.Fatal(err)
			}
			enc, _ := site.keys.Encode(PyDumps(Member{"_auth_user_id", fmt.Sprint(i)}), EncodeOptions{})
			if _, err := tx.Exec("INSERT INTO django_session VALUES ("+site.ph(1)+", "+site.ph(2)+", "+site.ph(3)+")",
				randKey(), enc, site.d.timeArg(now.Add(time.Hour))); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		src := site.open(Options{Keys: site.keys})
		for _, q := range []data.Query{{Now: now, Limit: n + 1}, {Now: now, Limit: n + 1, Sort: data.SortUser}} {
			p, err := src.ListActive(ctx, q)
			if err != nil || len(p.Sessions) != n {
				t.Fatalf("%+v: %d sessions, %v", q, len(p.Sessions), err)
			}
			for _, ss := range p.Sessions {
				if ss.Username != fmt.Sprintf("u%04d", ss.UserID) || ss.Role != map[bool]string{true: "staff", false: "user"}[ss.UserID%2 == 0] {
					t.Fatalf("%+v: session %+v not joined to its auth_user", q, ss)
				}
			}
		}
	})
}

// TestEachKeyPage: a full sync's pass sees every active row's key and
// expire_date exactly once, in pages, on both databases; a pass cut short
// (the source closing) or stopped by its callback returns an error, never
// a complete pass; and a row whose expire_date cannot be read is named.
func TestEachKeyPage(t *testing.T) {
	eachDialect(t, func(t *testing.T, site *testSite) {
		now := time.Now().UTC().Truncate(time.Second)
		want := map[string]int64{}
		const n = 2*scanPage + 7
		for i := range n {
			want[fmt.Sprintf("%032d", i)] = now.Add(time.Duration(i)*time.Millisecond + time.Hour).UnixMicro()
		}
		want["odd-key"] = now.Add(2 * time.Hour).UnixMicro() // not 32 of [a-z0-9]: the key map's other table
		tx, err := site.db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		ins := "INSERT INTO django_session VALUES (" + site.ph(1) + ", 'x', " + site.ph(2) + ")"
		for k, e := range want {
			if _, err := tx.Exec(ins, k, site.d.timeArg(time.UnixMicro(e))); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := tx.Exec(ins, "expired", site.d.timeArg(now.Add(-time.Hour))); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		src := site.open(Options{Keys: site.keys})

		got := map[string]int64{}
		pages := 0
		err = src.idx.eachActiveKey(ctx, now, func(p *keyPage) error {
			pages++
			if p.len() > scanPage {
				t.Fatalf("a page of %d rows, want at most %d", p.len(), scanPage)
			}
			for i := range p.len() {
				k := string(p.key(i))
				if _, dup := got[k]; dup {
					t.Fatalf("key %s handed twice", k)
				}
				got[k] = p.expire[i]
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) || pages < 3 {
			t.Fatalf("saw %d rows in %d pages, want %d in at least 3", len(got), pages, len(want))
		}
		for k, e := range want {
			if got[k] != e {
				t.Fatalf("%s: expire %d, want %d", k, got[k], e)
			}
		}

		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		err = src.idx.eachActiveKey(cctx, now, func(p *keyPage) error {
			cancel()
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("a cancelled pass returned %v, want context.Canceled", err)
		}
		stop := errors.New("stop")
		if err := src.idx.eachActiveKey(ctx, now, func(*keyPage) error { return stop }); !errors.Is(err, stop) {
			t.Fatalf("fn's error: %v", err)
		}
		// The source's connections still work after a pass cut short.
		if err := src.SyncNow(ctx); err != nil {
			t.Fatalf("a full sync after the cut passes: %v", err)
		}
	})
}
