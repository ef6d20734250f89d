package django

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"sessionmon/data"
	"sessionmon/internal/offheap"
)

func benchRow(b *testing.B) (Keys, string) {
	keys := NewKeys("bench")
	now := time.Now()
	enc, err := keys.Encode(PyDumps(siteMembers("user0000123", 124, "editor", now, now)...), EncodeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return keys, enc
}

func BenchmarkDecodeVerify(b *testing.B) {
	keys, enc := benchRow(b)
	b.ReportAllocs()
	for b.Loop() {
		d, err := Decode(enc)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := keys.Verify(d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeFieldsVerify is what the index pays per row: the fields,
// not the dict (decodeFields), and the signature.
func BenchmarkDecodeFieldsVerify(b *testing.B) {
	keys, enc := benchRow(b)
	b.ReportAllocs()
	for b.Loop() {
		d, err := decodeFields(enc)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := keys.Verify(d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	keys, _ := benchRow(b)
	js := PyDumps(siteMembers("user0000123", 124, "editor", time.Now(), time.Now())...)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := keys.Encode(js, EncodeOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// benchIndex fills an index with n sessions of n/4 users, each user its
// own IP (as bench/cmd/djangopoll generates them), straight through
// entryOf, without a database or decoding.
func benchIndex(n int) *index {
	users := n / 4
	x := newIndex(&Source{opts: Options{Keys: NewKeys("k")}})
	x.m = newKeyMapSized(x.mem, n+n/16)
	now := time.Now()
	ua := string([]byte("Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"))
	for i := 0; i < n; i++ {
		u := i % users
		ss := data.Session{
			UserID: int64(u + 1), Username: fmt.Sprintf("user%07d", u), Email: fmt.Sprintf("user%07d@example.com", u),
			FullName: fmt.Sprintf("User %d", u), Role: []string{"user", "user", "editor", "admin"}[u%4], Status: "active",
			IP: fmt.Sprintf("10.%d.%d.%d", u>>16&255, u>>8&255, u&255), UserAgent: ua,
			LoginTime: now.Add(-time.Duration(i*7%1000) * time.Second), LastActivity: now.Add(-time.Duration(i*13%1000) * time.Second),
			ExpiresAt: now.Add(time.Duration(i) * time.Second),
			Data:      map[string]any{MarkSignature: "valid"},
		}
		x.m.set(fmt.Sprintf("%032d", i*7919%n), x.entryOf(ss))
	}
	return x
}

// BenchmarkIndexList times the dashboard's listings and counts from an
// index of 1M sessions (-benchtime 20x: building it takes a while):
//
//	go test -run XXX -bench IndexList -benchtime 20x ./data/django/
func BenchmarkIndexList(b *testing.B) {
	x := benchIndex(1_000_000)
	now := time.Now()
	b.Run("sort-user", func(b *testing.B) {
		defer threadCPU(b)()
		for b.Loop() {
			x.mu.Lock()
			x.dropOrders()
			sl := x.selection(data.Query{Sort: data.SortUser, Now: now})
			sl.kept()
			x.mu.Unlock()
		}
	})
	b.Run("remerge-user", func(b *testing.B) {
		// What a busy site changes between two merges into the kept
		// order (1/32 of it: 4.7 minutes of djangodash's writer): the
		// saves are not timed, the merge is; against sort-user above.
		x.mu.Lock()
		defer x.mu.Unlock()
		x.dropOrders()
		x.selection(data.Query{Sort: data.SortUser, Now: now}).kept()
		var ids []uint32 // slots to save: live ones
		for id := uint32(0); id < x.m.used && len(ids) < 100_000; id++ {
			if x.m.keyOf(id).live() {
				ids = append(ids, id)
			}
		}
		rng := rand.New(rand.NewPCG(1, 2))
		defer threadCPU(b)()
		for b.Loop() {
			b.StopTimer()
			for range orderMaxChanged(x.m.len()) + 1 {
				id := ids[rng.IntN(len(ids))]
				e := x.m.entryOf(id)
				e.user = uint32(rng.IntN(x.users.len()))
				x.m.setEntry(id, e)
				x.m.logChange(id)
			}
			b.StartTimer()
			o := x.selection(data.Query{Sort: data.SortUser, Now: now}).kept()
			if o.since != 0 || len(x.m.changed) != 0 {
				b.Fatal("sorted anew, not merged into")
			}
		}
	})
	for _, c := range []struct {
		name string
		q    data.Query
	}{
		{"user", data.Query{Sort: data.SortUser}},
		{"last-desc", data.Query{Sort: data.SortLastActivity, Desc: true}},
		{"user-after-cursor", data.Query{Sort: data.SortUser, After: &data.Cursor{User: "user0120000", ID: "5"}}},
		{"filter-user00012", data.Query{Sort: data.SortUser, Text: "user00012"}},
		{"filter-editor", data.Query{Sort: data.SortUser, Text: "editor"}},
	} {
		q := c.q
		q.Now, q.Limit = now, 60
		b.Run("list-"+c.name, func(b *testing.B) {
			x.list(q) // sorts the kept order once
			defer threadCPU(b)()
			for b.Loop() {
				x.list(q)
			}
		})
		b.Run("list-after-saves-"+c.name, func(b *testing.B) {
			// 50 sessions saved between polls, as djangopoll's writer
			// does: the kept order merges them.
			keys := []string{}
			x.m.each(func(k32 [32]byte, k string, e entry) {
				if len(keys) < 5000 {
					keys = append(keys, keyString(k32, k))
				}
			})
			defer threadCPU(b)()
			i := 0
			for b.Loop() {
				x.mu.Lock()
				for range 50 {
					k := keys[i%len(keys)]
					e, _ := x.m.get(k)
					e.expire += 1e6
					e.last += 1e6
					x.m.set(k, e)
					i++
				}
				x.mu.Unlock()
				x.list(q)
			}
		})
		b.Run("count-"+c.name, func(b *testing.B) {
			defer threadCPU(b)()
			for b.Loop() {
				countOfBench(x, q)
			}
		})
	}
	b.Run("stats", func(b *testing.B) {
		defer threadCPU(b)()
		for b.Loop() {
			x.count(data.StatsQuery{Now: now, ExpiryWindow: time.Hour, LoginWindow: 5 * time.Minute})
		}
	})
}

// threadCPU reports the CPU time of the benchmark's thread per op
// (cpu-ms/op): on a shared machine, wall time is mostly other work.
func threadCPU(b *testing.B) func() {
	runtime.LockOSThread()
	t0 := cpuNow()
	return func() {
		b.ReportMetric(float64(cpuNow()-t0)/1e6/float64(b.N), "cpu-ms/op")
		runtime.UnlockOSThread()
	}
}

func cpuNow() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(1, &ru) // RUSAGE_THREAD
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func countOfBench(x *index, q data.Query) int64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.selection(q).count(true)
}

// BenchmarkIndexMemory fills the index with 1M sessions of 250k users (as
// bench/cmd/djangopoll generates them) and reports the memory it holds
// per session, on the Go heap and mapped outside it (internal/offheap):
//
//	go test -run XXX -bench IndexMemory -benchtime 1x ./data/django/
func BenchmarkIndexMemory(b *testing.B) {
	const n = 1_000_000
	for b.Loop() {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		mapped := offheap.Mapped()
		x := benchIndex(n)
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		heap := float64(after.HeapAlloc) - float64(before.HeapAlloc)
		off := float64(offheap.Mapped() - mapped)
		b.ReportMetric((heap+off)/n, "B/session")
		b.ReportMetric((heap+off)/(1<<20), "MB")
		// What the collector counts (and doubles, at GOGC=100) against
		// what is mapped outside its heap.
		b.ReportMetric(heap/(1<<20), "heap-MB")
		b.ReportMetric(off/(1<<20), "offheap-MB")
		runtime.KeepAlive(x)
	}
}

// BenchmarkForceOut measures on PostgreSQL, with the audit table in the
// site's database, how long after EndSession starts the holder's next
// request is refused (another connection no longer finds the row, as
// Django's session lookup would), median and p99: the one-statement path
// (endRowsAtOnce) against the locking transaction it replaced. Another
// connection polls in a loop, so a figure is at most one poll late.
//
//	go test -run XXX -bench ForceOut -benchtime 200x ./data/django/
func BenchmarkForceOut(b *testing.B) {
	for _, mode := range []string{"transaction", "one-statement"} {
		b.Run(mode, func(b *testing.B) {
			site := newSite(b, "postgres")
			if err := Migrate(context.Background(), site.dsn, MigrateOptions{}); err != nil {
				b.Fatal(err)
			}
			src := site.open(Options{Keys: site.keys})
			now := time.Now()
			var refused []time.Duration
			for b.Loop() {
				b.StopTimer()
				k := randKey()
				site.put(k, now.Add(time.Hour), siteMembers("ann", 1, "user", now, now)...)
				gone := make(chan time.Time, 1)
				start := make(chan time.Time, 1)
				go func() {
					t0 := <-start
					for {
						var n int
						if err := site.db.QueryRow("SELECT count(*) FROM django_session WHERE session_key = $1", k).Scan(&n); err != nil || n == 0 {
							gone <- time.Now()
							return
						}
						if time.Since(t0) > 10*time.Second {
							gone <- time.Now()
							return
						}
					}
				}()
				end := data.End{At: time.Now(), Reason: data.EndForced, By: "bench"}
				audit := data.AuditEntry{Time: end.At, Actor: "bench", Action: data.ActionForceLogout, SessionID: k}
				b.StartTimer()
				t0 := time.Now()
				start <- t0
				var err error
				if mode == "transaction" {
					_, _, _, err = src.endRowsLocked(context.Background(), []string{k}, end, audit, true)
				} else {
					_, _, _, err = src.endRows(context.Background(), []string{k}, end, audit, true)
				}
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				refused = append(refused, (<-gone).Sub(t0))
				b.StartTimer()
			}
			slices.Sort(refused)
			b.ReportMetric(float64(refused[len(refused)/2].Microseconds())/1000, "ms-refused-p50")
			b.ReportMetric(float64(refused[len(refused)*99/100].Microseconds())/1000, "ms-refused-p99")
		})
	}
}

// BenchmarkFullSync measures what one full sync of an index in step with
// the table costs on each store: the Go heap it allocates per active row
// (B/row), which the dashboard pays every FullSyncEvery and which showed as
// RSS bumps at 1M rows, and its time. Rows are generated in the database
// (200k, all of one session's data: the pass reads keys and expiry only).
//
//	go test -run XXX -bench FullSync -benchtime 5x ./data/django/
func BenchmarkFullSync(b *testing.B) {
	const n = 200_000
	for _, name := range []string{"postgres", "sqlite"} {
		b.Run(name, func(b *testing.B) {
			site := newSite(b, name)
			src := site.filled(n, time.Millisecond)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for b.Loop() {
				if err := src.SyncNow(ctx); err != nil {
					b.Fatal(err)
				}
			}
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/n, "B/row")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N)/n, "allocs/row")
		})
	}
}
