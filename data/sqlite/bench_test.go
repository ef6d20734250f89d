package sqlite_test

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sessionmon/data"
	"sessionmon/data/storetest"
)

// benchStore returns a store with n active sessions of one user.
func benchStore(b *testing.B, n int) (*storeT, []string) {
	b.Helper()
	st := openTB(b)
	u, err := st.CreateUser(b.Context(), data.User{Username: "bench", Role: "viewer", CreatedAt: storetest.T0}, data.AuditEntry{Action: data.ActionUserAdd})
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, n)
	for i := range n {
		ids[i] = storetest.SessionID(fmt.Sprint("bench-", i))
		_, err := st.CreateSession(b.Context(), data.Session{
			ID: ids[i], UserID: u.ID, Username: u.Username, Role: u.Role, IP: "192.0.2.1", UserAgent: "bench",
			LoginTime: storetest.T0, LastActivity: storetest.T0, ExpiresAt: storetest.T0.Add(storetest.CookieAge),
		}, "", data.Guard{}, data.AuditEntry{Time: storetest.T0, Action: data.ActionLogin, Username: u.Username, SessionID: ids[i]})
		if err != nil {
			b.Fatal(err)
		}
	}
	return st, ids
}

func BenchmarkTouch(b *testing.B) {
	st, ids := benchStore(b, 1000)
	b.ResetTimer()
	i := 0
	for b.Loop() {
		now := storetest.T0.Add(time.Duration(i) * time.Microsecond)
		if _, err := st.Touch(b.Context(), ids[i%len(ids)], now, now.Add(storetest.CookieAge)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkTouchParallel(b *testing.B) {
	st, ids := benchStore(b, 1000)
	var n atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			now := storetest.T0.Add(time.Duration(i) * time.Microsecond)
			if _, err := st.Touch(b.Context(), ids[int(i)%len(ids)], now, now.Add(storetest.CookieAge)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkCreateSession(b *testing.B) {
	st, _ := benchStore(b, 1)
	u, _ := st.UserByUsername(b.Context(), "bench")
	i := 0
	for b.Loop() {
		id := storetest.SessionID(fmt.Sprint("new-", i))
		_, err := st.CreateSession(b.Context(), data.Session{
			ID: id, UserID: u.ID, Username: u.Username, Role: u.Role,
			LoginTime: storetest.T0, LastActivity: storetest.T0, ExpiresAt: storetest.T0.Add(storetest.CookieAge),
		}, "", data.Guard{}, data.AuditEntry{Time: storetest.T0, Action: data.ActionLogin, Username: u.Username, SessionID: id})
		if err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkSession(b *testing.B) {
	st, ids := benchStore(b, 1000)
	i := 0
	for b.Loop() {
		if _, err := st.Session(b.Context(), ids[i%len(ids)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkListActive200(b *testing.B) {
	st, _ := benchStore(b, 1000)
	for b.Loop() {
		if _, err := st.ListActive(b.Context(), data.Query{Now: storetest.T0, Limit: 200}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMixedWriters: 16 goroutines, one write in four a login, the rest
// touches; reports latency percentiles. It is how the single-writer pool was
// chosen over a pool of writers that wait on SQLite's busy handler.
func BenchmarkMixedWriters(b *testing.B) {
	st, ids := benchStore(b, 200)
	u, _ := st.UserByUsername(b.Context(), "bench")
	var mu sync.Mutex
	var lats []time.Duration
	var wg sync.WaitGroup
	b.ResetTimer()
	per := b.N/16 + 1
	for g := range 16 {
		wg.Go(func() {
			for i := range per {
				t0 := time.Now()
				var err error
				if i%4 == 0 {
					id := storetest.SessionID(fmt.Sprint("mx-", g, "-", i, "-", b.N))
					_, err = st.CreateSession(b.Context(), data.Session{ID: id, UserID: u.ID, Username: "bench",
						LoginTime: storetest.T0, LastActivity: storetest.T0, ExpiresAt: storetest.T0.Add(time.Hour)}, "", data.Guard{}, data.AuditEntry{Action: "login"})
				} else {
					_, err = st.Touch(b.Context(), ids[(g*per+i)%len(ids)], storetest.T0, storetest.T0.Add(time.Hour))
				}
				if err != nil {
					b.Error(err)
					return
				}
				d := time.Since(t0)
				mu.Lock()
				lats = append(lats, d)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	b.ReportMetric(float64(lats[len(lats)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lats[len(lats)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(lats[len(lats)-1].Microseconds()), "max-µs")
}
