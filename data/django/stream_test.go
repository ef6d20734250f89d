package django

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestStreamActive: PostgreSQL's one-statement scan hands every active row
// once, in batches of scanPage; and a scan cut short by its context is an
// error, never a complete pass (a full sync drops the rows a complete pass
// did not see).
func TestStreamActive(t *testing.T) {
	site := newSite(t, "postgres")
	now := time.Now().UTC().Truncate(time.Microsecond)
	enc, err := site.keys.Encode(PyDumps(siteMembers("ann", 1, "user", now, now)...), EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 2*scanPage + 7
	site.exec(`INSERT INTO django_session SELECT md5(i::text), $1, $2::timestamptz + i * interval '1 second' FROM generate_series(1, $3) i`, enc, now, n)
	site.exec(`INSERT INTO django_session VALUES ('expired00000000000000000000000000', $1, $2)`, enc, now.Add(-time.Hour))
	src := site.open(Options{Keys: site.keys})

	seen := map[string]int{}
	var sizes []int
	if err := src.streamActive(ctx, now, true, func(rs []row) error {
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
	if len(seen) != n || len(sizes) != 3 || sizes[0] != scanPage {
		t.Fatalf("saw %d rows in batches %v, want %d in batches of %d", len(seen), sizes, n, scanPage)
	}
	for k, c := range seen {
		if c != 1 {
			t.Fatalf("row %s handed %d times", k, c)
		}
	}

	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	err = src.streamActive(cctx, now, false, func(rs []row) error {
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
	if err := src.streamActive(ctx, now, false, func([]row) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("fn's error: %v", err)
	}
}
