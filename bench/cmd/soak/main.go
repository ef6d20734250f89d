// Command soak runs sessionmon's login server on the embedded SQLite store
// at full rate for a long time and prints, each minute, the request rate,
// the WAL's and the database's size, the process's RSS and its goroutines:
// all must stay flat (issue 8: before the WAL fix, 10 s of GET /api/me left
// an 827 MB WAL).
//
// The load, all on 127.0.0.1: -conns keep-alive clients sending a mix of
// GET /api/me on -sessions seeded sessions and on their own, POST /login
// (-login-pct of requests, as one of -users users) and POST /logout of one
// of their own sessions (as many as logins, so active sessions stay
// level); a dashboard on a Store of its own (as `sessionmon watch` in
// another process) calling Manager.Active and Manager.Stats every -dash;
// and, every -revoke, a CLI-like process (a fresh Store: open, force one
// session out, close, as `sessionmon sessions revoke` does).
//
//	cd bench && go run ./cmd/soak -minutes 10
//
// The server, the clients and the dashboard share this process, so RSS and
// goroutines are the whole process's. The database grows with what the
// load writes for good: each login adds a session row and audit entries
// (audit is append-only); the "bytes per login" column says how much.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"sessionmon/bench/harness"
	"sessionmon/data/sqlite"
	"sessionmon/server"
	"sessionmon/sessionlogic"
)

type config struct {
	minutes    int
	minute     time.Duration
	conns      int
	sessions   int
	users      int
	loginPct   float64
	dash       time.Duration
	revoke     time.Duration
	cost       int
	dir        string
	keep       bool
	maxWALMB   float64
	rssGrowth  float64
	goroutines int
}

func main() {
	var c config
	flag.IntVar(&c.minutes, "minutes", 10, "how long to run, in rows of the table")
	flag.DurationVar(&c.minute, "row", time.Minute, "length of one row (a minute; shorter for a quick try)")
	flag.IntVar(&c.conns, "conns", 64, "keep-alive client connections")
	flag.IntVar(&c.sessions, "sessions", 10000, "sessions seeded for GET /api/me")
	flag.IntVar(&c.users, "users", 50, "users who log in and out")
	flag.Float64Var(&c.loginPct, "login-pct", 2, "percent of requests that are logins (as many again are logouts)")
	flag.DurationVar(&c.dash, "dash", 250*time.Millisecond, "the dashboard's polling interval (Active + Stats)")
	flag.DurationVar(&c.revoke, "revoke", time.Second, "a CLI-like force-logout this often (0: none)")
	flag.IntVar(&c.cost, "bcrypt-cost", bcrypt.MinCost, "bcrypt cost of the users' passwords (the default 10 makes logins the whole load)")
	flag.StringVar(&c.dir, "dir", "", "directory for the database (default: a new temporary one, removed at the end)")
	flag.BoolVar(&c.keep, "keep", false, "keep the database at the end")
	flag.Float64Var(&c.maxWALMB, "max-wal-mb", 64, "exit non-zero if the WAL ever exceeds this")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config) error {
	dir := c.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "sessionmon-soak-")
		if err != nil {
			return err
		}
		dir = d
		if !c.keep {
			defer os.RemoveAll(d)
		}
	}
	path := filepath.Join(dir, "soak.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		return err
	}
	defer st.Close()
	tokens := harness.NewTokens(c.sessions)
	if err := harness.SeedTokensSQLite(ctx, path, tokens); err != nil {
		return err
	}

	// The server, as `sessionmon serve` builds it (metrics included).
	metrics, err := server.NewMetrics(nil)
	if err != nil {
		return err
	}
	m, err := sessionlogic.New(sessionlogic.Options{
		Store: st, SaveEveryRequest: true, PasswordCost: c.cost, Logger: harness.Quiet, Observer: metrics,
	})
	if err != nil {
		return err
	}
	const password = "soak password 1"
	for i := range c.users {
		if _, err := m.AddUser(ctx, "soak", sessionlogic.NewUser{
			Username: fmt.Sprint("user", i), Password: password, Role: harness.Roles[i%len(harness.Roles)],
		}); err != nil {
			return err
		}
	}
	srv, err := server.New(server.Options{Manager: m, Logger: harness.Quiet, Metrics: metrics})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	sctx, stopServer := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- server.Serve(sctx, ln, srv.Handler(), harness.Quiet) }()
	defer func() { stopServer(); <-served }()

	lctx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var n counters
	var wg sync.WaitGroup

	// The clients.
	tr := &http.Transport{MaxIdleConns: c.conns, MaxIdleConnsPerHost: c.conns, MaxConnsPerHost: c.conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	cookie := m.CookieName()
	for w := range c.conns {
		wg.Go(func() {
			clientLoop(lctx, client, base, cookie, tokens, c, password, rand.New(rand.NewPCG(uint64(w), 0x50a1)), &n)
		})
	}

	// The dashboard: a Store of its own, as `watch` in another process.
	dst, err := sqlite.Open(ctx, path)
	if err != nil {
		return err
	}
	defer dst.Close()
	dm, err := sessionlogic.New(sessionlogic.Options{Store: dst, Logger: harness.Quiet})
	if err != nil {
		return err
	}
	wg.Go(func() {
		every(lctx, c.dash, func() {
			_, err1 := dm.Active(lctx, sessionlogic.ListQuery{Limit: 100})
			_, err2 := dm.Stats(lctx)
			if lctx.Err() == nil && (err1 != nil || err2 != nil) {
				n.dashErr.Add(1)
				return
			}
			n.polls.Add(1)
		})
	})

	// The CLI: a short-lived Store per revoke.
	if c.revoke > 0 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(7, 7))
			every(lctx, c.revoke, func() {
				if err := revokeOne(lctx, path, rng); err != nil && lctx.Err() == nil {
					n.revokeErr.Add(1)
					return
				}
				n.revokes.Add(1)
			})
		})
	}

	// The table.
	var peakWAL atomic.Int64
	wg.Go(func() { // the WAL between the rows too
		every(lctx, 100*time.Millisecond, func() {
			if s := fileSize(path + "-wal"); s > peakWAL.Load() {
				peakWAL.Store(s)
			}
		})
	})
	fmt.Printf("soak: %s, %d connections, %d seeded sessions, %d users, logins %.1f%% + logouts %.1f%%, dashboard every %v, revoke every %v, GOMAXPROCS %d\n\n",
		path, c.conns, c.sessions, c.users, c.loginPct, c.loginPct, c.dash, c.revoke, runtime.GOMAXPROCS(0))
	fmt.Println("| minute | req/s | /api/me | logins | logouts | revoked → 401 | other non-2xx | errors | dashboard polls | CLI revokes | WAL now MB | WAL peak MB | DB MB | DB bytes per login | RSS MB | goroutines |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	// The seed is in the WAL: count the database from after it.
	if err := harness.ExecSQLite(ctx, path, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return err
	}
	dbStart := fileSize(path)
	var logins0 int64
	prev := n.snapshot()
	failed := false
	for row := 1; row <= c.minutes; row++ {
		start := time.Now()
		select {
		case <-ctx.Done():
		case <-time.After(c.minute):
		}
		el := time.Since(start).Seconds()
		cur := n.snapshot()
		d := cur.minus(prev)
		prev = cur
		wal, peak := fileSize(path+"-wal"), peakWAL.Swap(0)
		db := fileSize(path)
		perLogin := "-"
		if l := cur.logins - logins0; l > 0 {
			perLogin = fmt.Sprintf("%.0f", float64(db-dbStart)/float64(l))
		}
		ps := harness.ProcStatus("VmRSS")
		fmt.Printf("| %d | %.0f | %d | %d | %d | %d | %d | %d | %d | %d | %.1f | %.1f | %.1f | %s | %.1f | %d |\n",
			row, float64(d.requests())/el, d.me, d.logins, d.logouts, d.revokedSeen, d.non2xx, d.errors+d.dashErr+d.revokeErr, d.polls, d.revokes,
			mbf(wal), mbf(peak), mbf(db), perLogin, float64(ps["VmRSS"])/1024, runtime.NumGoroutine())
		if mbf(peak) > c.maxWALMB {
			failed = true
		}
		if ctx.Err() != nil {
			break
		}
	}
	stopLoad()
	wg.Wait()
	if failed {
		return fmt.Errorf("the WAL passed %.0f MB", c.maxWALMB)
	}
	return nil
}

// clientLoop is one keep-alive client: /api/me on a seeded session or one
// of its own, and now and then a login or a logout of its own oldest.
func clientLoop(ctx context.Context, client *http.Client, base, cookie string, tokens []string, c config, password string, rng *rand.Rand, n *counters) {
	var own []string
	for ctx.Err() == nil {
		p := rng.Float64() * 100
		switch {
		case p < c.loginPct:
			user := fmt.Sprint("user", rng.IntN(c.users))
			form := url.Values{"username": {user}, "password": {password}}
			resp, err := post(ctx, client, base+"/login", "", "", form)
			if !n.count(resp, err, http.StatusSeeOther, &n.logins) {
				continue
			}
			for _, ck := range resp.Cookies() {
				if ck.Name == cookie && ck.Value != "" {
					own = append(own, ck.Value)
				}
			}
		case p < 2*c.loginPct && len(own) > 0:
			tok := own[0]
			own = own[1:]
			resp, err := post(ctx, client, base+"/logout", cookie, tok, nil)
			n.count(resp, err, http.StatusSeeOther, &n.logouts)
		default:
			tok, mine := tokens[rng.IntN(len(tokens))], -1
			if len(own) > 0 && rng.IntN(4) == 0 {
				mine = rng.IntN(len(own))
				tok = own[mine]
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/me", nil)
			req.Header.Set("Cookie", cookie+"="+tok)
			resp, err := client.Do(req)
			if err == nil && resp.StatusCode == http.StatusUnauthorized {
				// Sessions last 14 days here: only the CLI ends one that
				// a client still holds, and refusing it is right.
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				n.revokedSeen.Add(1)
				if mine >= 0 {
					own = append(own[:mine], own[mine+1:]...)
				}
				continue
			}
			n.count(resp, err, http.StatusOK, &n.me)
		}
	}
}

func post(ctx context.Context, client *http.Client, u, cookie, tok string, form url.Values) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if cookie != "" {
		req.Header.Set("Cookie", cookie+"="+tok)
	}
	return client.Do(req)
}

// revokeOne is `sessionmon sessions revoke` in miniature: open the file,
// find an active session, force it out, close.
func revokeOne(ctx context.Context, path string, rng *rand.Rand) error {
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		return err
	}
	defer st.Close()
	m, err := sessionlogic.New(sessionlogic.Options{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	p, err := m.Active(ctx, sessionlogic.ListQuery{Limit: 50, Sort: sessionlogic.SortLoginTime, Desc: true})
	if err != nil || len(p.Sessions) == 0 {
		return err
	}
	_, err = m.ForceLogout(ctx, "soak-cli", p.Sessions[rng.IntN(len(p.Sessions))].ID)
	if errors.Is(err, sessionlogic.ErrEnded) || errors.Is(err, sessionlogic.ErrNotFound) {
		return nil // logged out meanwhile
	}
	return err
}

type counters struct {
	me, logins, logouts, non2xx, errors atomic.Int64
	polls, dashErr, revokes, revokeErr  atomic.Int64
	revokedSeen                         atomic.Int64 // 401 for a session the CLI revoked: right
}

// count records one answer: ok (in ok) when it has the status wanted.
func (n *counters) count(resp *http.Response, err error, want int, ok *atomic.Int64) bool {
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			n.errors.Add(1)
		}
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		n.non2xx.Add(1)
		return false
	}
	ok.Add(1)
	return true
}

type snap struct {
	me, logins, logouts, non2xx, errors, polls, dashErr, revokes, revokeErr, revokedSeen int64
}

func (n *counters) snapshot() snap {
	return snap{n.me.Load(), n.logins.Load(), n.logouts.Load(), n.non2xx.Load(), n.errors.Load(),
		n.polls.Load(), n.dashErr.Load(), n.revokes.Load(), n.revokeErr.Load(), n.revokedSeen.Load()}
}

func (a snap) minus(b snap) snap {
	return snap{a.me - b.me, a.logins - b.logins, a.logouts - b.logouts, a.non2xx - b.non2xx, a.errors - b.errors,
		a.polls - b.polls, a.dashErr - b.dashErr, a.revokes - b.revokes, a.revokeErr - b.revokeErr, a.revokedSeen - b.revokedSeen}
}

// requests are the HTTP answers of the row, whatever their status.
func (a snap) requests() int64 { return a.me + a.logins + a.logouts + a.non2xx + a.revokedSeen }

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func mbf(n int64) float64 { return float64(n) / (1 << 20) }

// every calls fn at each tick of d until ctx is done.
func every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}
