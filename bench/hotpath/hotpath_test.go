// Package hotpath holds go test -bench benchmarks of sessionmon's hot paths:
// authenticate+touch through the Manager on SQLite and PostgreSQL, the whole
// GET /api/me handler without the network, cookie writing, and one dashboard
// poll cycle. They assert no timing.
//
//	cd bench && go test -run XXX -bench . -benchtime 2000x ./hotpath/
//
// PostgreSQL benchmarks use a fresh schema on BENCH_DSN (default the local
// postgres://postgres@127.0.0.1:5432/test) and are skipped when it is
// unreachable. BENCH_POLL_SIZE sets the poll cycle's active sessions (10000).
package hotpath

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"sessionmon/bench/harness"
	"sessionmon/data"
	"sessionmon/data/postgres"
	"sessionmon/data/sqlite"
	"sessionmon/server"
	"sessionmon/sessionlogic"
)

const seeded = 1000

func dsn() string {
	if d := os.Getenv("BENCH_DSN"); d != "" {
		return d
	}
	return harness.DefaultDSN
}

type store struct {
	name string
	open func(b *testing.B) data.Store
	load func(b *testing.B, from, to int) // bulk-load BulkID rows
}

func stores() []store {
	var sqlitePath string
	return []store{
		{
			name: "sqlite",
			open: func(b *testing.B) data.Store {
				sqlitePath = harness.SQLiteFile(b.TempDir(), "bench")
				st, err := sqlite.Open(context.Background(), sqlitePath)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { st.Close() })
				return st
			},
			load: func(b *testing.B, from, to int) {
				if err := harness.BulkLoadSQLite(context.Background(), sqlitePath, from, to); err != nil {
					b.Fatal(err)
				}
			},
		},
		pgStore("postgres"),
		// The same store with touch batching off: the baseline for what
		// batching costs an idle (serial) caller and buys a busy one.
		pgStore("postgres-unbatched", postgres.WithTouchBatch(1)),
	}
}

// pgStore is a PostgreSQL store on a fresh schema, opened with opts.
func pgStore(name string, opts ...postgres.Option) store {
	var pgSchema *harness.Schema
	return store{
		name: name,
		open: func(b *testing.B) data.Store {
			ctx := context.Background()
			s, err := harness.NewSchema(ctx, dsn(), "hot")
			if err != nil {
				b.Skipf("PostgreSQL not reachable: %v", err)
			}
			b.Cleanup(func() { s.Drop() })
			pgSchema = s
			st, err := postgres.OpenAndMigrate(ctx, s.DSN, opts...)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			return st
		},
		load: func(b *testing.B, from, to int) {
			if err := harness.BulkLoadPG(context.Background(), pgSchema, from, to); err != nil {
				b.Fatal(err)
			}
		},
	}
}

// seededManager opens s with seeded logged-in sessions and returns a
// Manager on it and the sessions' tokens.
func seededManager(b *testing.B, s store) (*sessionlogic.Manager, []string) {
	st := s.open(b)
	tokens, err := harness.SeedSessions(context.Background(), st, seeded, 4)
	if err != nil {
		b.Fatal(err)
	}
	m, err := harness.NewManager(st)
	if err != nil {
		b.Fatal(err)
	}
	return m, tokens
}

// BenchmarkAuthenticateTouch is Manager.Authenticate with save-every-request
// on (hash the token, one UPDATE … RETURNING), serial and from parallel
// goroutines (-cpu sets how many).
func BenchmarkAuthenticateTouch(b *testing.B) {
	for _, s := range stores() {
		b.Run(s.name, func(b *testing.B) {
			m, tokens := seededManager(b, s)
			ctx := context.Background()
			b.Run("serial", func(b *testing.B) {
				rng := rand.New(rand.NewPCG(1, 1))
				for b.Loop() {
					if _, err := m.Authenticate(ctx, tokens[rng.IntN(len(tokens))]); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("parallel", func(b *testing.B) {
				b.RunParallel(func(pb *testing.PB) {
					rng := rand.New(rand.NewPCG(rand.Uint64(), 1))
					for pb.Next() {
						if _, err := m.Authenticate(ctx, tokens[rng.IntN(len(tokens))]); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		})
	}
}

// BenchmarkServerMe is GET /api/me through the real server's handler
// (middleware chain, guard, authenticate+touch, cookie, JSON) without the
// network: the per-request cost the HTTP layer adds to the store's.
func BenchmarkServerMe(b *testing.B) {
	for _, s := range stores() {
		b.Run(s.name, func(b *testing.B) {
			m, tokens := seededManager(b, s)
			srv, err := server.New(server.Options{Manager: m, Logger: harness.Quiet})
			if err != nil {
				b.Fatal(err)
			}
			h := srv.Handler()
			rng := rand.New(rand.NewPCG(2, 2))
			for b.Loop() {
				r := httptest.NewRequest(http.MethodGet, "/api/me", nil)
				r.Header.Set("Cookie", m.CookieName()+"="+tokens[rng.IntN(len(tokens))])
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}

// nopStore satisfies data.Store for a Manager whose store is never called.
type nopStore struct{ data.Store }

// headerWriter is the cheapest ResponseWriter: only a header map.
type headerWriter http.Header

func (h headerWriter) Header() http.Header       { return http.Header(h) }
func (headerWriter) Write(p []byte) (int, error) { return len(p), nil }
func (headerWriter) WriteHeader(int)             {}

// BenchmarkCookie is what every authenticated response adds: the session
// cookie with a fresh Max-Age/Expires, serialised into Set-Cookie.
func BenchmarkCookie(b *testing.B) {
	m, err := sessionlogic.New(sessionlogic.Options{Store: nopStore{}, SaveEveryRequest: true, Logger: harness.Quiet})
	if err != nil {
		b.Fatal(err)
	}
	token := sessionlogic.NewToken()
	w := headerWriter(http.Header{})
	b.ReportAllocs()
	for b.Loop() {
		delete(w, "Set-Cookie")
		http.SetCookie(w, m.Cookie(token))
	}
}

// BenchmarkPollCycle is one dashboard refresh through the Manager: the
// visible window (50 rows by expiry), the changes since the last counter
// (after 20 touches), and the stats; also each part alone.
func BenchmarkPollCycle(b *testing.B) {
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("BENCH_POLL_SIZE")); err == nil && v > 0 {
		n = v
	}
	for _, s := range stores() {
		b.Run(s.name+"/"+strconv.Itoa(n), func(b *testing.B) {
			ctx := context.Background()
			st := s.open(b)
			s.load(b, 1, n)
			m, err := harness.NewManager(st)
			if err != nil {
				b.Fatal(err)
			}
			p, err := harness.NewPoller(ctx, m)
			if err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(3, 3))
			var stats, rest time.Duration
			for b.Loop() {
				b.StopTimer()
				if err := harness.Churn(ctx, st, rng, n, 20); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				c, err := p.Cycle(ctx)
				if err != nil {
					b.Fatal(err)
				}
				stats += c.Stats
				rest += c.NoStats()
			}
			b.ReportMetric(float64(stats.Microseconds())/float64(b.N)/1000, "stats-ms/op")
			b.ReportMetric(float64(rest.Microseconds())/float64(b.N)/1000, "window+changes-ms/op")
		})
	}
}
