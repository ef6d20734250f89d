// Command freshness measures how fresh the dashboard and the server are
// (issue 4, item 5):
//
//	cd bench && go run ./cmd/freshness                 # both parts
//	cd bench && go run ./cmd/freshness -parts row -logins 20 -configs pg-push:1s,pg-poll:1s
//	cd bench && go run ./cmd/freshness -parts refuse -iters 100
//
// Part "row", login-to-row: the real dashboard model (tui.New) runs in a
// tea.Program (output io.Discard, no input, 200x60, sorted by expiry
// descending with "S" so the newest login is the top row) on a store with
// -n bulk-loaded active sessions. At a random moment (uniform within one
// poll interval) a Manager on a store instance of its own (as a
// `sessionmon serve` process would be) logs a fresh user in; the time from
// Login returning (the session committed) to the end of the first View()
// that contains the username is recorded (a wrapper model checks every
// frame; 0 when the row showed before Login returned, which happens when the
// notice arrives while Login is still on its way back), and also the time
// from the start of the Login call. Configurations (-configs, store-mode:interval):
//
//	pg-push    PostgreSQL, the store as it is: LISTEN/NOTIFY notices + polling
//	pg-poll    PostgreSQL with the Watch method hidden (harness.NoWatch): polling only
//	sqlite     SQLite (cannot push): polling only
//
// Part "refuse", force-logout-to-refusal: sessionmon's real server
// (server.New behind server.Serve on 127.0.0.1) on a store with seeded
// sessions; a client with a keep-alive connection holds a valid cookie and
// gets 200 from GET /api/me; the operator (a Manager on a store instance of
// its own, as the dashboard is) calls ForceLogout; the client's next
// GET /api/me is sent at once and its latency (until the 401 arrives) is
// recorded. Every refusal must be a 401.
//
// PostgreSQL schemas are fresh and dropped at the end; SQLite files live in
// a temporary directory that is removed.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
	"golang.org/x/crypto/bcrypt"

	"sessionmon/bench/harness"
	"sessionmon/data"
	"sessionmon/data/postgres"
	"sessionmon/data/sqlite"
	"sessionmon/sessionlogic"
	"sessionmon/tui"
)

var discard = slog.New(slog.DiscardHandler)

type env struct {
	ctx     context.Context
	dsn     string
	dir     string
	schemas []*harness.Schema
	path    string // the last SQLite file opened
}

func main() {
	var (
		parts, configs, dsn string
		n, logins, iters    int
	)
	flag.StringVar(&parts, "parts", "row,refuse", "parts: row (login-to-row), refuse (force-logout-to-refusal)")
	flag.StringVar(&configs, "configs", "pg-push:1s,pg-poll:1s,sqlite:1s,pg-push:10s,pg-poll:10s", "row part: store-mode:poll-interval list")
	flag.StringVar(&dsn, "dsn", harness.DefaultDSN, "PostgreSQL server (loopback only)")
	flag.IntVar(&n, "n", 100000, "bulk-loaded active sessions in each store")
	flag.IntVar(&logins, "logins", 20, "row part: measured logins per configuration")
	flag.IntVar(&iters, "iters", 100, "refuse part: force-logouts per store")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	dir, err := os.MkdirTemp("", "sessionmon-freshness-")
	if err != nil {
		fatal(err)
	}
	e := &env{ctx: ctx, dsn: dsn, dir: dir}
	err = func() error {
		if strings.Contains(parts, "row") {
			var rows [][]string
			for _, c := range strings.Split(configs, ",") {
				mode, iv, ok := strings.Cut(strings.TrimSpace(c), ":")
				interval, perr := time.ParseDuration(iv)
				if !ok || perr != nil {
					return fmt.Errorf("-configs: %q is not store-mode:interval", c)
				}
				r, err := e.row(mode, interval, n, logins)
				if err != nil {
					return fmt.Errorf("%s: %w", c, err)
				}
				rows = append(rows, r)
			}
			fmt.Printf("\n## Login-to-row (%d bulk-loaded active sessions, %d logins per configuration)\n\n", n, logins)
			fmt.Println("| configuration | poll | login → row ms: median | min | p90 | max | Login call ms (med) | from Login call start ms (med / max) | < 100 ms |")
			fmt.Println("|---|---:|---:|---:|---:|---:|---:|---|---|")
			for _, r := range rows {
				fmt.Println("| " + strings.Join(r, " | ") + " |")
			}
		}
		if strings.Contains(parts, "refuse") {
			var rows [][]string
			for _, st := range []string{"pg", "sqlite"} {
				r, err := e.refuse(st, n, iters)
				if err != nil {
					return fmt.Errorf("refuse %s: %w", st, err)
				}
				rows = append(rows, r)
			}
			fmt.Printf("\n## Force-logout-to-refusal (%d iterations per store)\n\n", iters)
			fmt.Println("| store | refused request ms: median | p99 | max | min | 401s | same client's 200 before, ms (med / p99) | ForceLogout call ms (med) | ≤ 5 ms |")
			fmt.Println("|---|---:|---:|---:|---:|---:|---|---:|---|")
			for _, r := range rows {
				fmt.Println("| " + strings.Join(r, " | ") + " |")
			}
		}
		return nil
	}()
	for _, s := range e.schemas {
		if derr := s.Drop(); derr != nil {
			logf("drop %s: %v", s.Name, derr)
		}
	}
	os.RemoveAll(dir)
	if err != nil {
		fatal(err)
	}
}

// open returns two store instances on one fresh, migrated store with n
// bulk-loaded active sessions: one for the dashboard (or operator), one
// for the login side (server).
func (e *env) open(kind string, n int) (a, b data.Store, closeAll func(), err error) {
	switch kind {
	case "pg":
		s, err := harness.NewSchema(e.ctx, e.dsn, "fresh")
		if err != nil {
			return nil, nil, nil, err
		}
		e.schemas = append(e.schemas, s)
		p1, err := postgres.OpenAndMigrate(e.ctx, s.DSN)
		if err != nil {
			return nil, nil, nil, err
		}
		if err := harness.BulkLoadPG(e.ctx, s, 1, n); err != nil {
			p1.Close()
			return nil, nil, nil, err
		}
		p2, err := postgres.Open(e.ctx, s.DSN)
		if err != nil {
			p1.Close()
			return nil, nil, nil, err
		}
		return p1, p2, func() { p1.Close(); p2.Close() }, nil
	case "sqlite":
		path := harness.SQLiteFile(e.dir, fmt.Sprintf("fresh-%d", time.Now().UnixNano()))
		e.path = path
		s1, err := sqlite.Open(e.ctx, path)
		if err != nil {
			return nil, nil, nil, err
		}
		if err := harness.BulkLoadSQLite(e.ctx, path, 1, n); err != nil {
			s1.Close()
			return nil, nil, nil, err
		}
		s2, err := sqlite.Open(e.ctx, path)
		if err != nil {
			s1.Close()
			return nil, nil, nil, err
		}
		return s1, s2, func() { s1.Close(); s2.Close() }, nil
	}
	return nil, nil, nil, fmt.Errorf("unknown store %q", kind)
}

func (e *env) row(mode string, interval time.Duration, n, logins int) ([]string, error) {
	kind := "pg"
	if mode == "sqlite" {
		kind = "sqlite"
	} else if mode != "pg-push" && mode != "pg-poll" {
		return nil, fmt.Errorf("unknown mode %q (pg-push, pg-poll, sqlite)", mode)
	}
	t := time.Now()
	dashStore, loginStore, closeAll, err := e.open(kind, n)
	if err != nil {
		return nil, err
	}
	defer closeAll()
	logf("%s %s: %d sessions loaded in %s", mode, interval, n, time.Since(t).Round(time.Second))
	if mode == "pg-poll" {
		dashStore = harness.NoWatch{Store: dashStore}
	}
	loginMgr, err := sessionlogic.New(sessionlogic.Options{Store: loginStore, SaveEveryRequest: true,
		PasswordCost: bcrypt.MinCost, MaxFailuresPerUser: 1000, MaxFailuresPerIP: 1000, Logger: discard})
	if err != nil {
		return nil, err
	}
	tag := fmt.Sprintf("%04x", rand.IntN(1<<16))
	names := make([]string, logins)
	for i := range names {
		names[i] = fmt.Sprintf("fresh%s%02d", tag, i)
		if _, err := loginMgr.AddUser(e.ctx, "bench", sessionlogic.NewUser{Username: names[i], Password: "bench-password",
			Email: names[i] + "@example.org", FullName: "Fresh " + names[i], Role: "user"}); err != nil {
			return nil, fmt.Errorf("add user: %w", err)
		}
	}
	dashMgr, err := sessionlogic.New(sessionlogic.Options{Store: dashStore, Logger: discard})
	if err != nil {
		return nil, err
	}
	if (mode == "pg-push") != dashMgr.CanWatch() {
		return nil, fmt.Errorf("%s: CanWatch = %v", mode, dashMgr.CanWatch())
	}

	lipgloss.SetColorProfile(termenv.TrueColor)
	lipgloss.SetHasDarkBackground(true)
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	probe := harness.NewProbe(tui.New(tui.Options{Manager: dashMgr, Operator: "bench", PollInterval: interval, Sort: sessionlogic.SortExpires})) // S below: expiry descending
	p := tea.NewProgram(probe, tea.WithOutput(io.Discard), tea.WithInput(nil), tea.WithoutSignalHandler(), tea.WithContext(ctx))
	done := make(chan error, 1)
	go func() { _, err := p.Run(); done <- err }()
	defer func() { p.Quit(); <-done }()
	p.Send(tea.WindowSizeMsg{Width: 200, Height: 60})
	p.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("S")}) // expiry descending: the newest login on top
	if !harness.WaitFor(e.ctx, 15*time.Second, func() bool {
		return probe.S.Msgs()["tui.windowMsg"] >= 2 && strings.Contains(probe.S.Last(), "▼expires")
	}) {
		return nil, fmt.Errorf("dashboard did not show the window sorted by expiry descending:\n%s", probe.S.Last())
	}
	time.Sleep(interval) // let the first poll loop settle

	var lat, lat0, call []float64
	for i, name := range names {
		time.Sleep(time.Duration(rand.Int64N(int64(interval)))) // a random moment within a poll interval
		seen := probe.S.Watch(name)
		t0 := time.Now()
		if _, _, err := loginMgr.Login(e.ctx, sessionlogic.LoginRequest{Username: name, Password: "bench-password",
			IP: "127.0.0.1", UserAgent: "sessionmon-bench freshness"}); err != nil {
			return nil, fmt.Errorf("login %s: %w", name, err)
		}
		t1 := time.Now()
		select {
		case at := <-seen:
			d := at.Sub(t1)
			if d < 0 { // shown before Login returned (a poll between commit and return)
				d = 0
			}
			lat = append(lat, harness.Ms(d))
			lat0 = append(lat0, harness.Ms(at.Sub(t0)))
			call = append(call, harness.Ms(t1.Sub(t0)))
			logf("%s %s: login %d/%d %s: row after %.1f ms (Login %.1f ms)", mode, interval, i+1, len(names), name, harness.Ms(d), harness.Ms(t1.Sub(t0)))
		case <-time.After(3*interval + 10*time.Second):
			return nil, fmt.Errorf("login %s: row never shown; last frame:\n%s", name, probe.S.Last())
		case <-e.ctx.Done():
			return nil, e.ctx.Err()
		}
	}
	s := harness.Summarize(lat)
	verdict := "met"
	if s.Med >= 100 {
		verdict = "NOT MET"
	}
	if mode != "pg-push" {
		verdict = "(fallback, for comparison)"
	}
	label := map[string]string{"pg-push": "PostgreSQL, LISTEN/NOTIFY + polling", "pg-poll": "PostgreSQL, polling only (Watch hidden)", "sqlite": "SQLite, polling only"}[mode]
	return []string{label, interval.String(), fmt.Sprintf("**%.1f**", s.Med), fmt.Sprintf("%.1f", s.Min),
		fmt.Sprintf("%.1f", pct(lat, 90)), fmt.Sprintf("%.1f", s.Max), fmt.Sprintf("%.1f", harness.Summarize(call).Med),
		fmt.Sprintf("%.1f / %.1f", harness.Summarize(lat0).Med, harness.Summarize(lat0).Max), verdict}, nil
}

func (e *env) refuse(kind string, n, iters int) ([]string, error) {
	t := time.Now()
	opStore, srvStore, closeAll, err := e.open(kind, n)
	if err != nil {
		return nil, err
	}
	defer closeAll()
	tokens := harness.NewTokens(iters)
	switch kind {
	case "pg":
		s := e.schemas[len(e.schemas)-1]
		err = harness.SeedTokensPG(e.ctx, s, tokens)
	case "sqlite":
		err = harness.SeedTokensSQLite(e.ctx, e.path, tokens)
	}
	if err != nil {
		return nil, err
	}
	logf("refuse %s: %d + %d sessions loaded in %s", kind, n, iters, time.Since(t).Round(time.Second))
	srv, _, err := harness.StartSessionmon(srvStore)
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	op, err := sessionlogic.New(sessionlogic.Options{Store: opStore, Logger: discard})
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 1, DisableCompression: true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	get := func(token string) (int, time.Duration, error) {
		req, _ := http.NewRequestWithContext(e.ctx, "GET", srv.URL+"/api/me", nil)
		req.AddCookie(&http.Cookie{Name: srv.Cookie, Value: token})
		t := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, time.Since(t), nil
	}
	var refused, ok, fl []float64
	n401 := 0
	for i, tok := range tokens {
		code, d, err := get(tok)
		if err != nil {
			return nil, err
		}
		if code != http.StatusOK {
			return nil, fmt.Errorf("iteration %d: valid cookie answered %d", i, code)
		}
		ok = append(ok, harness.Ms(d))
		time.Sleep(time.Duration(5+rand.IntN(20)) * time.Millisecond)
		t0 := time.Now()
		if _, err := op.ForceLogout(e.ctx, "bench", sessionlogic.HashToken(tok)); err != nil {
			return nil, fmt.Errorf("force logout: %w", err)
		}
		fl = append(fl, harness.Ms(time.Since(t0)))
		code, d, err = get(tok)
		if err != nil {
			return nil, err
		}
		if code == http.StatusUnauthorized {
			n401++
		} else {
			logf("refuse %s: iteration %d: after ForceLogout the cookie answered %d", kind, i, code)
		}
		refused = append(refused, harness.Ms(d))
	}
	s := harness.Summarize(refused)
	p99 := pct(refused, 99)
	verdict := "met"
	if s.Med > 5 {
		verdict = "NOT MET"
	} else if p99 > 5 {
		verdict = "met (median); p99 above"
	}
	if n401 != len(tokens) {
		verdict = "NOT MET: not every request refused"
	}
	label := map[string]string{"pg": "PostgreSQL", "sqlite": "SQLite"}[kind]
	return []string{label, fmt.Sprintf("**%.2f**", s.Med), fmt.Sprintf("%.2f", p99), fmt.Sprintf("%.2f", s.Max), fmt.Sprintf("%.2f", s.Min),
		fmt.Sprintf("%d/%d", n401, len(tokens)), fmt.Sprintf("%.2f / %.2f", harness.Summarize(ok).Med, pct(ok, 99)),
		fmt.Sprintf("%.2f", harness.Summarize(fl).Med), verdict}, nil
}

func pct(xs []float64, p int) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "freshness:", err)
	os.Exit(1)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}
